/**
 * The pod skeleton every StatefulSet of the tier shares: the component's names and labels from the
 * contract, Pod Security "restricted" contexts, scheduling by topology, the pod identity environment,
 * one main container with its three probes, and a `data` claim template when the component keeps data.
 * A construct fills in only what is its own: image, command, environment, probes, hooks and volumes.
 */
import { Construct } from 'constructs';
import { COMPONENTS, MemberComponent } from '../contract/index.js';
import { k8s } from '../imports/k8s.js';
import {
  ResourceProps, StorageProps, Topology, componentLabels, containerSecurityContext, podIdentityEnv, podSecurityContext,
  resourceRequirements, scheduling, volumeClaimTemplate,
} from './common.js';

/** The main container of a member pod: what differs between components. */
export interface MemberContainerProps {
  readonly image: string;
  readonly command: string[];
  /** @default - none */
  readonly args?: string[];
  /** Environment after the pod identity variables (POD_NAME, POD_NAMESPACE, POD_IP). @default - none */
  readonly env?: k8s.EnvVar[];
  readonly startupProbe: k8s.Probe;
  readonly readinessProbe: k8s.Probe;
  readonly livenessProbe: k8s.Probe;
  /** @default - no hooks */
  readonly lifecycle?: k8s.Lifecycle;
  readonly resources: ResourceProps;
  /** The data volume (when `storage` is set) is not mounted automatically: name it `data` here. @default - none */
  readonly volumeMounts?: k8s.VolumeMount[];
}

export interface MemberStatefulSetProps {
  readonly component: MemberComponent;
  readonly replicas: number;
  readonly topology: Topology;
  readonly terminationGracePeriodSeconds: number;
  readonly container: MemberContainerProps;
  /**
   * `Parallel` starts and stops members together; the tier's components find their roles themselves.
   * @default 'Parallel'
   */
  readonly podManagementPolicy?: 'Parallel' | 'OrderedReady';
  /**
   * OnDelete: Kubernetes replaces no pod by itself after a template change; `npm run up` does, leader
   * last (tools/rollout.ts), so that a rollout moves each component's leader once, not twice.
   * @default 'OnDelete'
   */
  readonly updateStrategy?: 'RollingUpdate' | 'OnDelete';
  /** A service account whose token the pod needs. @default - none, and no token is mounted */
  readonly serviceAccountName?: string;
  /** Pod volumes besides the claim. @default - none */
  readonly volumes?: k8s.Volume[];
  /** When set, each member gets a PersistentVolumeClaim `data` of this size and class. @default - no claim */
  readonly storage?: StorageProps;
}

/**
 * A StatefulSet of a component's members, by default with id `Resource` inside `scope` (so
 * `ApiObject.of()` of the construct reaches it). Raw object: cdk8s-plus-28's StatefulSet has no
 * volumeClaimTemplates, and the probes, hooks and scheduling need exact control.
 */
export function memberStatefulSet(scope: Construct, props: MemberStatefulSetProps, id = 'Resource'): k8s.KubeStatefulSet {
  const spec = COMPONENTS[props.component];
  const labels = componentLabels(props.component);
  const c = props.container;
  const account = props.serviceAccountName
    ? { serviceAccountName: props.serviceAccountName, automountServiceAccountToken: true }
    : { automountServiceAccountToken: false };
  return new k8s.KubeStatefulSet(scope, id, {
    metadata: { name: spec.workload, labels: labels.all },
    spec: {
      serviceName: spec.headlessService,
      replicas: props.replicas,
      podManagementPolicy: props.podManagementPolicy ?? 'Parallel',
      updateStrategy: { type: props.updateStrategy ?? 'OnDelete' },
      selector: { matchLabels: labels.selector },
      template: {
        metadata: { labels: labels.all },
        spec: {
          ...account,
          securityContext: podSecurityContext(),
          enableServiceLinks: false,
          terminationGracePeriodSeconds: props.terminationGracePeriodSeconds,
          ...scheduling(props.topology, labels.selector),
          containers: [{
            name: spec.container,
            image: c.image,
            imagePullPolicy: 'IfNotPresent',
            command: c.command,
            ...(c.args ? { args: c.args } : {}),
            env: [...podIdentityEnv(), ...(c.env ?? [])],
            ports: Object.entries(spec.ports).map(([name, containerPort]) => ({ name, containerPort })),
            startupProbe: c.startupProbe,
            readinessProbe: c.readinessProbe,
            livenessProbe: c.livenessProbe,
            ...(c.lifecycle ? { lifecycle: c.lifecycle } : {}),
            resources: resourceRequirements(c.resources),
            securityContext: containerSecurityContext(),
            ...(c.volumeMounts ? { volumeMounts: c.volumeMounts } : {}),
          }],
          ...(props.volumes ? { volumes: props.volumes } : {}),
        },
      },
      ...(props.storage ? { volumeClaimTemplates: [volumeClaimTemplate('data', props.storage)] } : {}),
    },
  });
}

/** A probe on a named container port over HTTP. */
export function httpProbe(path: string, port: string, timing: Omit<k8s.Probe, 'httpGet' | 'exec'>): k8s.Probe {
  return { httpGet: { path, port: k8s.IntOrString.fromString(port) }, ...timing };
}

/** A probe that only opens a TCP connection to a named container port. */
export function tcpProbe(port: string, timing: Omit<k8s.Probe, 'httpGet' | 'exec' | 'tcpSocket'>): k8s.Probe {
  return { tcpSocket: { port: k8s.IntOrString.fromString(port) }, ...timing };
}

/** A probe on a named container port over HTTPS (the kubelet does not verify the certificate). */
export function httpsProbe(path: string, port: string, timing: Omit<k8s.Probe, 'httpGet' | 'exec'>): k8s.Probe {
  return { httpGet: { path, port: k8s.IntOrString.fromString(port), scheme: 'HTTPS' }, ...timing };
}

/** A probe running a command in the container. */
export function execProbe(command: string[], timing: Omit<k8s.Probe, 'httpGet' | 'exec'>): k8s.Probe {
  return { exec: { command }, ...timing };
}
