/**
 * The whole tier in one namespace: etcd, Patroni/PostgreSQL on that etcd, Redis with Sentinel.
 */
import { Chart, ChartProps } from 'cdk8s';
import * as kplus from 'cdk8s-plus-28';
import { Construct } from 'constructs';
import { CHAOS_PROBE, COMPONENTS, COMPONENT_KEYS, ImageKey, DEFAULT_NAMESPACE, LABEL, PART_OF, PG_APP, TierDescriptor } from '../contract/index.js';
import { k8s } from '../imports/k8s.js';
import { ImageOptions, imageReference } from './common.js';
import { EtcdCluster, EtcdClusterProps } from './etcd.js';
import { PatroniCluster, PatroniClusterProps } from './patroni.js';
import { RedisSentinel, RedisSentinelProps } from './redis.js';
import { PostgresRouter, PostgresRouterProps } from './router.js';

export interface HaTierChartProps extends Omit<ChartProps, 'namespace'> {
  /**
   * Namespace of every object; created with Pod Security "restricted" enforced.
   * @default 'ha-tier'
   */
  readonly namespace?: string;
  /**
   * The profile this chart was built from, recorded on the Namespace (`ha-tier.dev/profile`) so that
   * the tools can rebuild the same descriptor.
   * @default 'custom'
   */
  readonly profile?: string;
  /** etcd props. @default - EtcdCluster's defaults */
  readonly etcd?: EtcdClusterProps;
  /** Patroni props; its etcd is this chart's. @default - PatroniCluster's defaults */
  readonly patroni?: Omit<PatroniClusterProps, 'etcd'>;
  /** The postgres router's props; it routes this chart's Patroni cluster. @default - PostgresRouter's defaults */
  readonly router?: Omit<PostgresRouterProps, 'patroni' | 'etcd'>;
  /** Redis and Sentinel props. @default - RedisSentinel's defaults */
  readonly redis?: RedisSentinelProps;
  /**
   * Whether the chaos runner's probe (pods labelled `ha-tier.dev/chaos-probe: "true"`) may also
   * reach etcd's client port and Patroni's REST API, to write to etcd and sample every member's view.
   * @default true
   */
  readonly allowChaosProbe?: boolean;
  /**
   * Where every component's image comes from (a registry, digests); a component's own `image` prop
   * wins. @default - the local names of images/images.json
   */
  readonly images?: ImageOptions;
}

/**
 * Pods labelled `ha-tier.dev/client: "true"` may use PostgreSQL, Redis and Sentinel: in the tier's
 * namespace, and in any namespace labelled `ha-tier.dev/client-namespace: "true"`.
 */
export const CLIENT_SELECTOR = { [LABEL.client]: 'true' };
export const CLIENT_NAMESPACE_SELECTOR = { [LABEL.clientNamespace]: 'true' };
/** The chaos runner's in-cluster probe. */
export const CHAOS_PROBE_SELECTOR = { [LABEL.chaosProbe]: 'true' };

export class HaTierChart extends Chart {
  public readonly etcd: EtcdCluster;
  public readonly patroni: PatroniCluster;
  public readonly redis: RedisSentinel;
  public readonly router: PostgresRouter;
  public readonly profile: string;
  public readonly clusterDomain: string;
  public readonly chaosProbeAllowed: boolean;

  constructor(scope: Construct, id: string, props: HaTierChartProps = {}) {
    const namespace = props.namespace ?? DEFAULT_NAMESPACE;
    const { profile: _profile, ...chartProps } = props;
    super(scope, id, {
      ...chartProps,
      namespace,
      labels: { [LABEL.managedBy]: 'cdk8s', ...(props.labels ?? {}) },
    });
    this.profile = props.profile ?? 'custom';
    this.chaosProbeAllowed = props.allowChaosProbe ?? true;

    new kplus.Namespace(this, 'Namespace', {
      metadata: {
        name: namespace,
        labels: {
          'pod-security.kubernetes.io/enforce': 'restricted',
          'pod-security.kubernetes.io/enforce-version': 'v1.28',
          'pod-security.kubernetes.io/warn': 'restricted',
          [LABEL.profile]: this.profile,
        },
      },
    });

    // Nothing reaches a pod of the tier unless a component's own policy lets it (kubelet probes come
    // from the pod's node, which NetworkPolicies always allow). Raw object: cdk8s-plus-28 cannot
    // express a policy over every pod with no rule.
    new k8s.KubeNetworkPolicy(this, 'DefaultDeny', {
      metadata: { name: 'default-deny-ingress', labels: { [LABEL.partOf]: PART_OF } },
      spec: { podSelector: {}, policyTypes: ['Ingress'] },
    });

    const probe = this.chaosProbeAllowed ? [CHAOS_PROBE_SELECTOR] : [];
    const image = (key: ImageKey) => imageReference(key, props.images, `HaTierChart '${id}'.images`);
    this.etcd = new EtcdCluster(this, 'etcd', { image: image('etcd'), ...props.etcd });
    const domain = props.etcd?.clusterDomain ?? 'cluster.local';
    this.clusterDomain = domain;
    this.patroni = new PatroniCluster(this, 'postgres', {
      image: image('patroni'),
      ...props.patroni,
      etcd: this.etcd,
      clientSelectors: [...(props.patroni?.clientSelectors ?? []), CLIENT_SELECTOR],
      clientNamespaceSelector: CLIENT_NAMESPACE_SELECTOR,
      restApiClientSelectors: [...(props.patroni?.restApiClientSelectors ?? []), ...probe],
      clusterDomain: domain,
    });
    if (this.chaosProbeAllowed) {
      // The chaos probe (test tooling, kind only): it watches Patroni's leader key and writes its own keys.
      this.etcd.allowClients('ChaosProbe', CHAOS_PROBE_SELECTOR, {
        name: CHAOS_PROBE.etcdUser,
        grants: [{ prefix: `${this.patroni.dcsPrefix}${this.patroni.scope}/`, permission: 'read' }, { prefix: 'chaos/', permission: 'readwrite' }],
      });
    }
    this.router = new PostgresRouter(this, 'router', { image: image('router'), ...props.router, patroni: this.patroni, etcd: this.etcd });
    this.redis = new RedisSentinel(this, 'redis', {
      clusterDomain: domain,
      image: image('redis'),
      ...props.redis,
      clientSelectors: [...(props.redis?.clientSelectors ?? []), CLIENT_SELECTOR],
      clientNamespaceSelector: CLIENT_NAMESPACE_SELECTOR,
    });
  }

  /** What programs that use this tier need to know of it (written as tier.json by `npm run synth`). */
  public describe(): TierDescriptor {
    const pods = (workload: string, n: number) => Array.from({ length: n }, (_, i) => `${workload}-${i}`);
    const member = (workload: string, replicas: number) => ({ replicas, pods: pods(workload, replicas) });
    return {
      namespace: this.namespace!,
      profile: this.profile,
      clusterDomain: this.clusterDomain,
      members: {
        etcd: member(COMPONENTS.etcd.workload, this.etcd.replicas),
        postgres: member(COMPONENTS.postgres.workload, this.patroni.replicas),
        redis: member(COMPONENTS.redis.workload, this.redis.replicas),
        sentinel: member(COMPONENTS.sentinel.workload, this.redis.sentinels),
      },
      routerReplicas: this.router.replicas,
      workloads: COMPONENT_KEYS.map((k) => ({ kind: COMPONENTS[k].workloadKind, name: COMPONENTS[k].workload })),
      secrets: [
        { name: this.patroni.credentialsSecretName, keys: Object.values(COMPONENTS.postgres.secret.keys) },
        { name: this.redis.credentialsSecretName, keys: Object.values(COMPONENTS.redis.secret.keys) },
      ],
      etcd: { clientUrls: this.etcd.clientUrls, users: this.etcd.users, ...this.etcd.timing },
      certificates: [...this.etcd.certificates, ...this.patroni.certificates, ...this.redis.certificates],
      patroni: {
        scope: this.patroni.scope,
        dcsPrefix: this.patroni.dcsPrefix,
        dcs: this.patroni.dcsSettings,
        switchoverOnDelete: this.patroni.switchoverOnDelete,
        terminationGracePeriodSeconds: this.patroni.terminationGracePeriodSeconds,
        users: { superuser: this.patroni.superuserUsername, replication: this.patroni.replicationUsername, app: PG_APP.user, database: PG_APP.database },
      },
      redis: {
        masterName: this.redis.masterName,
        quorum: this.redis.quorum,
        downAfterMilliseconds: this.redis.downAfterMilliseconds,
        failoverTimeoutMilliseconds: this.redis.failoverTimeoutMilliseconds,
        minReplicasToWrite: this.redis.minReplicasToWrite,
        minReplicasMaxLag: this.redis.minReplicasMaxLag,
        handOverOnDelete: this.redis.handOverOnDelete,
        terminationGracePeriodSeconds: this.redis.terminationGracePeriodSeconds,
      },
      chaosProbeAllowed: this.chaosProbeAllowed,
    };
  }
}
