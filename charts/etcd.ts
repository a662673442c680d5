/**
 * etcd: a statically bootstrapped cluster on stable DNS names, used by Patroni as its DCS (v3 API).
 */
import * as kplus from 'cdk8s-plus-28';
import { Construct } from 'constructs';
import { k8s } from '../imports/k8s.js';
import {
  Topology, TOPOLOGIES, ResourceProps, StorageProps, componentLabels, containerSecurityContext, defaultImage,
  disruptionBudget, namespaceOf, podHost, podIdentityEnv, podSecurityContext, resourceRequirements, scheduling,
  service, validateResources, volumeClaimTemplate, parseQuantity,
} from './common.js';
import { ConfigError, requireInteger, requireOneOf } from './errors.js';

export interface EtcdClusterProps {
  /**
   * Number of members. Must be odd; at least 3 when `highAvailability` is on.
   * @default 3
   */
  readonly replicas?: number;
  /**
   * Whether this is an HA layout: refuses fewer than 3 members.
   * @default true
   */
  readonly highAvailability?: boolean;
  /**
   * Container image with `etcd` and `etcdctl`.
   * @default - ha-tier/etcd at the tag in images/images.json
   */
  readonly image?: string;
  /**
   * Each member's data volume.
   * @default { size: '1Gi' } on the cluster's default StorageClass
   */
  readonly storage?: StorageProps;
  /**
   * Requests and limits of the etcd container.
   * @default { cpuRequest: '50m', memoryRequest: '96Mi', memoryLimit: '256Mi' }
   */
  readonly resources?: ResourceProps;
  /**
   * How members are spread over nodes and zones.
   * @default 'host'
   */
  readonly topology?: Topology;
  /**
   * Label sets of the pods allowed to use the client port (2379), e.g. Patroni's pods.
   * @default - only the members themselves
   */
  readonly clientSelectors?: Record<string, string>[];
  /**
   * Seconds a deleted member gets to stop. On SIGTERM a leader hands leadership to a follower.
   * @default 30
   */
  readonly terminationGracePeriodSeconds?: number;
  /**
   * The cluster's DNS domain, part of the members' stable names.
   * @default 'cluster.local'
   */
  readonly clusterDomain?: string;
  /**
   * The backend quota (`--quota-backend-bytes`), a quantity.
   * @default '512Mi'
   */
  readonly quotaBackendBytes?: string;
}

/**
 * A StatefulSet of etcd members started in parallel, each bootstrapped statically from the stable
 * names `<pod>.<headless service>` on port 2380. A deleted pod that returns with its volume rejoins as
 * the same member (its data dir already holds the membership), so nothing removes members on stop.
 */
export class EtcdCluster extends Construct {
  /** Name of the StatefulSet (and the prefix of its pods). */
  public readonly name = 'etcd';
  /** Headless service giving every member its stable DNS name. */
  public readonly headlessServiceName = 'etcd-headless';
  /** Client service (port 2379) over ready members. */
  public readonly clientServiceName = 'etcd';
  public readonly replicas: number;
  /** `http://<member>:2379` of every member, for clients that want all of them. */
  public readonly clientUrls: string[];
  /** Labels selecting this cluster's pods. */
  public readonly selectorLabels: Record<string, string>;
  public readonly statefulSet: k8s.KubeStatefulSet;

  constructor(scope: Construct, id: string, props: EtcdClusterProps = {}) {
    super(scope, id);
    const owner = `EtcdCluster '${id}'`;
    const replicas = props.replicas ?? 3;
    const ha = props.highAvailability ?? true;
    const topology = requireOneOf(owner, 'topology', props.topology ?? 'host', TOPOLOGIES);
    const resources = props.resources ?? { cpuRequest: '50m', memoryRequest: '96Mi', memoryLimit: '256Mi' };
    const storage = props.storage ?? { size: '1Gi' };
    const grace = props.terminationGracePeriodSeconds ?? 30;
    const domain = props.clusterDomain ?? 'cluster.local';
    const quota = props.quotaBackendBytes ?? '512Mi';

    requireInteger(owner, 'replicas', replicas, 1);
    if (ha && replicas < 3) {
      throw new ConfigError(`${owner}: 'replicas' (${replicas}) must be at least 3 in a highly available layout; use 3 or 5, or turn 'highAvailability' off for a single member.`);
    }
    if (replicas % 2 === 0) {
      throw new ConfigError(`${owner}: 'replicas' (${replicas}) must be odd: an even member count tolerates no more failures than one member fewer; use ${replicas - 1} or ${replicas + 1}.`);
    }
    validateResources(owner, 'resources', resources);
    parseQuantity(owner, 'storage.size', storage.size);
    const quotaBytes = parseQuantity(owner, 'quotaBackendBytes', quota);
    requireInteger(owner, 'terminationGracePeriodSeconds', grace, 0);

    const ns = namespaceOf(this);
    const labels = componentLabels(this.name, 'dcs');
    this.selectorLabels = labels.selector;
    this.replicas = replicas;
    const host = (i: number) => podHost(this.name, i, this.headlessServiceName, ns, domain);
    const members = Array.from({ length: replicas }, (_, i) => i);
    this.clientUrls = members.map((i) => `http://${host(i)}:2379`);
    const self = `$(POD_NAME).${this.headlessServiceName}.${ns}.svc.${domain}`;

    service(this, 'Headless', {
      name: this.headlessServiceName, labels: labels.all, selector: labels.selector, headless: true,
      ports: [{ name: 'client', port: 2379 }, { name: 'peer', port: 2380 }],
    });
    service(this, 'Client', {
      name: this.clientServiceName, labels: labels.all, selector: labels.selector, ports: [{ name: 'client', port: 2379 }],
    });

    // Raw StatefulSet: cdk8s-plus-28's has no volumeClaimTemplates, and the probes, hooks and
    // scheduling below need exact control.
    this.statefulSet = new k8s.KubeStatefulSet(this, 'Resource', {
      metadata: { name: this.name, labels: labels.all },
      spec: {
        serviceName: this.headlessServiceName,
        replicas,
        // All members must be up to form the initial quorum: start them together.
        podManagementPolicy: 'Parallel',
        updateStrategy: { type: 'RollingUpdate' },
        selector: { matchLabels: labels.selector },
        template: {
          metadata: { labels: labels.all },
          spec: {
            securityContext: podSecurityContext(),
            automountServiceAccountToken: false,
            enableServiceLinks: false,
            terminationGracePeriodSeconds: grace,
            ...scheduling(topology, labels.selector),
            containers: [
              {
                name: 'etcd',
                image: props.image ?? defaultImage('etcd'),
                imagePullPolicy: 'IfNotPresent',
                command: ['etcd'],
                args: [
                  '--name=$(POD_NAME)',
                  '--data-dir=/var/lib/etcd/data',
                  '--listen-client-urls=http://0.0.0.0:2379',
                  `--advertise-client-urls=http://${self}:2379`,
                  '--listen-peer-urls=http://0.0.0.0:2380',
                  `--initial-advertise-peer-urls=http://${self}:2380`,
                  `--initial-cluster=${members.map((i) => `${this.name}-${i}=http://${host(i)}:2380`).join(',')}`,
                  '--initial-cluster-state=new',
                  `--initial-cluster-token=${ns}-${this.name}`,
                  '--listen-metrics-urls=http://0.0.0.0:2381',
                  `--quota-backend-bytes=${Math.round(quotaBytes)}`,
                  '--auto-compaction-mode=periodic',
                  '--auto-compaction-retention=1h',
                  '--logger=zap',
                ],
                env: [...podIdentityEnv(), { name: 'ETCDCTL_API', value: '3' }],
                ports: [
                  { name: 'client', containerPort: 2379 },
                  { name: 'peer', containerPort: 2380 },
                  { name: 'metrics', containerPort: 2381 },
                ],
                // Started: the member has joined its cluster and serves clients (etcd only opens the
                // client port then). A fresh cluster needs a quorum of members up: allow 5 minutes.
                startupProbe: {
                  httpGet: { path: '/version', port: k8s.IntOrString.fromString('client') },
                  periodSeconds: 2, failureThreshold: 150,
                },
                // Ready: the member is part of a cluster with a leader and has no alarm.
                readinessProbe: {
                  httpGet: { path: '/health', port: k8s.IntOrString.fromString('metrics') },
                  periodSeconds: 5, timeoutSeconds: 3, failureThreshold: 2,
                },
                // Alive: the server answers at all. Not /health, which fails cluster-wide while quorum is
                // lost; restarting healthy members then would only make things worse.
                livenessProbe: {
                  httpGet: { path: '/version', port: k8s.IntOrString.fromString('client') },
                  periodSeconds: 10, timeoutSeconds: 5, failureThreshold: 6,
                },
                resources: resourceRequirements(resources),
                securityContext: containerSecurityContext(),
                volumeMounts: [{ name: 'data', mountPath: '/var/lib/etcd' }],
              },
            ],
          },
        },
        volumeClaimTemplates: [volumeClaimTemplate('data', storage)],
      },
    });

    disruptionBudget(this, 'Budget', this.name, labels.selector, labels.all);

    // Peers reach each other on 2380; clients (Patroni) reach 2379.
    const policy = new kplus.NetworkPolicy(this, 'Policy', {
      metadata: { name: this.name, labels: labels.all },
      selector: kplus.Pods.select(this, 'Members', { labels: labels.selector }),
    });
    const peers = kplus.Pods.select(this, 'Peers', { labels: labels.selector });
    policy.addIngressRule(peers, [kplus.NetworkPolicyPort.tcp(2379), kplus.NetworkPolicyPort.tcp(2380)]);
    (props.clientSelectors ?? []).forEach((sel, i) => {
      policy.addIngressRule(kplus.Pods.select(this, `Clients${i}`, { labels: sel }), [kplus.NetworkPolicyPort.tcp(2379)]);
    });
  }
}
