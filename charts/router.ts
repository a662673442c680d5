/**
 * The postgres router (router/): a small Deployment that keeps the endpoints of the selector-less
 * `postgres-primary` and `postgres-replicas` Services equal to Patroni's own state in etcd. It replaces
 * pods labelling themselves: a leader that is frozen, partitioned or on a lost node cannot take its own
 * label off, but it loses Patroni's leader key, and the router (running elsewhere) routes by that key.
 */
import * as kplus from 'cdk8s-plus-28';
import { Construct } from 'constructs';
import { COMPONENTS, MOUNTS, ROUTED_SLICES, ROUTER_MANAGER, etcdClientSecret } from '../contract/index.js';
import { k8s } from '../imports/k8s.js';
import {
  ResourceProps, Topology, TOPOLOGIES, componentLabels, containerSecurityContext, defaultImage, disruptionBudget,
  namespaceOf, podSecurityContext, resourceRequirements, scheduling, secretVolume, validateResources,
} from './common.js';
import type { EtcdCluster } from './etcd.js';
import { requireInteger, requireOneOf } from './errors.js';
import type { PatroniCluster } from './patroni.js';
import { httpProbe } from './workload.js';

export interface PostgresRouterProps {
  /** The Patroni cluster whose Services are routed. */
  readonly patroni: PatroniCluster;
  /** The etcd cluster Patroni keeps its state in; the router reads it there. */
  readonly etcd: EtcdCluster;
  /**
   * Router pods. More than one, on different nodes, so that losing a node never stops routing changes;
   * they write only views newer than what is there, so any number may run at once.
   * @default 2
   */
  readonly replicas?: number;
  /** @default - ha-tier/router at the tag in images/images.json */
  readonly image?: string;
  /** @default { cpuRequest: '20m', memoryRequest: '48Mi', memoryLimit: '128Mi' } */
  readonly resources?: ResourceProps;
  /** @default 'host' */
  readonly topology?: Topology;
  /**
   * Milliseconds between full re-reads besides the watch (they also cover Patroni's failsafe mode).
   * @default 1000
   */
  readonly resyncMilliseconds?: number;
}

export class PostgresRouter extends Construct {
  public readonly name = COMPONENTS.router.workload;
  public readonly replicas: number;
  public readonly deployment: k8s.KubeDeployment;

  constructor(scope: Construct, id: string, props: PostgresRouterProps) {
    super(scope, id);
    // 1. Validate.
    const owner = `PostgresRouter '${id}'`;
    const replicas = props.replicas ?? 2;
    const topology = requireOneOf(owner, 'topology', props.topology ?? 'host', TOPOLOGIES);
    const resources = props.resources ?? { cpuRequest: '20m', memoryRequest: '48Mi', memoryLimit: '128Mi' };
    const resync = props.resyncMilliseconds ?? 1000;
    requireInteger(owner, 'replicas', replicas, 1);
    requireInteger(owner, 'resyncMilliseconds', resync, 100);
    validateResources(owner, 'resources', resources);
    this.replicas = replicas;

    // 2. Render: the routed slices and the router's settings.
    const patroni = props.patroni;
    const labels = componentLabels('router');
    const pgLabels = componentLabels('postgres');
    const pgPort = COMPONENTS.postgres.ports.postgresql;
    const slices = [
      { id: 'PrimarySlice', name: ROUTED_SLICES.primary, service: COMPONENTS.postgres.services.primary },
      { id: 'ReplicasSlice', name: ROUTED_SLICES.replicas, service: COMPONENTS.postgres.services.replicas },
    ];

    // 3. Build the objects.
    // Created empty; `kubectl apply` leaves the endpoints the router wrote alone (they are not part of
    // what was applied before). Raw objects: cdk8s-plus-28 has no EndpointSlice.
    for (const s of slices) {
      new k8s.KubeEndpointSlice(this, s.id, {
        metadata: {
          name: s.name,
          labels: { ...pgLabels.all, 'kubernetes.io/service-name': s.service, 'endpointslice.kubernetes.io/managed-by': ROUTER_MANAGER },
        },
        addressType: 'IPv4',
        endpoints: [],
        ports: [{ name: 'postgresql', port: pgPort, protocol: 'TCP' }],
      });
    }

    const account = new kplus.ServiceAccount(this, 'Account', { metadata: { name: this.name, labels: labels.all }, automountToken: true });
    // Least privilege: read and replace the two routed slices, by name; nothing else.
    const role = new k8s.KubeRole(this, 'Role', {
      metadata: { name: this.name, labels: labels.all },
      rules: [{ apiGroups: ['discovery.k8s.io'], resources: ['endpointslices'], verbs: ['get', 'update'], resourceNames: slices.map((s) => s.name) }],
    });
    new k8s.KubeRoleBinding(this, 'RoleBinding', {
      metadata: { name: this.name, labels: labels.all },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: role.name },
      subjects: [{ kind: 'ServiceAccount', name: account.name, namespace: namespaceOf(this) }],
    });

    this.deployment = new k8s.KubeDeployment(this, 'Resource', {
      metadata: { name: this.name, labels: labels.all },
      spec: {
        replicas,
        selector: { matchLabels: labels.selector },
        // Never fewer routers than wanted during an update.
        strategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: k8s.IntOrString.fromNumber(0), maxSurge: k8s.IntOrString.fromNumber(1) } },
        template: {
          metadata: { labels: labels.all },
          spec: {
            serviceAccountName: account.name,
            automountServiceAccountToken: true,
            securityContext: podSecurityContext(),
            enableServiceLinks: false,
            terminationGracePeriodSeconds: 5,
            ...scheduling(topology, labels.selector),
            containers: [{
              name: COMPONENTS.router.container,
              image: props.image ?? defaultImage('router'),
              imagePullPolicy: 'IfNotPresent',
              env: [
                { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
                { name: 'POD_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
                { name: 'ETCD_ENDPOINTS', value: props.etcd.clientUrls.join(',') },
                // Its etcd client certificate (etcd user "router": read Patroni's keys); the same CA
                // verifies the Patroni members' REST API.
                { name: 'TLS_DIR', value: MOUNTS.etcdClient },
                { name: 'PATRONI_CLUSTER_PREFIX', value: `${patroni.dcsPrefix}${patroni.scope}/` },
                { name: 'ROUTER_RESYNC_MS', value: String(resync) },
              ],
              ports: [{ name: 'http', containerPort: COMPONENTS.router.ports.http }],
              startupProbe: httpProbe('/livez', 'http', { periodSeconds: 1, failureThreshold: 60 }),
              // Ready: etcd was read within the last 10 s. A router that is not ready still keeps the
              // routing it wrote; readiness only shows it in `kubectl get pods`.
              readinessProbe: httpProbe('/readyz', 'http', { periodSeconds: 5, timeoutSeconds: 2, failureThreshold: 2 }),
              livenessProbe: httpProbe('/livez', 'http', { periodSeconds: 10, timeoutSeconds: 5, failureThreshold: 3 }),
              resources: resourceRequirements(resources),
              securityContext: containerSecurityContext(),
              volumeMounts: [{ name: 'etcd-client', mountPath: MOUNTS.etcdClient, readOnly: true }],
            }],
            volumes: [secretVolume('etcd-client', etcdClientSecret('router'))],
          },
        },
      },
    });
    if (replicas > 1) disruptionBudget(this, 'Budget', this.name, labels.selector, labels.all);

    // The router reads Patroni's keys in etcd (nothing else) and asks members' REST APIs about failsafe mode.
    props.etcd.allowClients('RouterClients', labels.selector, { name: 'router', grants: [{ prefix: `${patroni.dcsPrefix}${patroni.scope}/`, permission: 'read' }] });
    patroni.allowRestApiClients('Router', labels.selector);
  }
}
