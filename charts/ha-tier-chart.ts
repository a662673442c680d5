/**
 * The whole tier in one namespace: etcd, Patroni/PostgreSQL on that etcd, Redis with Sentinel.
 */
import { Chart, ChartProps } from 'cdk8s';
import * as kplus from 'cdk8s-plus-28';
import { Construct } from 'constructs';
import { LABEL_CLIENT } from './common.js';
import { EtcdCluster, EtcdClusterProps } from './etcd.js';
import { PatroniCluster, PatroniClusterProps } from './patroni.js';
import { RedisSentinel, RedisSentinelProps } from './redis.js';

export interface HaTierChartProps extends Omit<ChartProps, 'namespace'> {
  /**
   * Namespace of every object; created with Pod Security "restricted" enforced.
   * @default 'ha-tier'
   */
  readonly namespace?: string;
  /** etcd props. @default - EtcdCluster's defaults */
  readonly etcd?: EtcdClusterProps;
  /** Patroni props; `etcdHosts` is filled in from the etcd cluster. @default - PatroniCluster's defaults */
  readonly patroni?: Omit<PatroniClusterProps, 'etcdHosts'>;
  /** Redis and Sentinel props. @default - RedisSentinel's defaults */
  readonly redis?: RedisSentinelProps;
  /**
   * Whether the chaos runner's probe (pods labelled `ha-tier.dev/chaos-probe: "true"`) may also
   * reach etcd's client port and Patroni's REST API, to write to etcd and sample every member's view.
   * @default true
   */
  readonly allowChaosProbe?: boolean;
}

/** Pods labelled `ha-tier.dev/client: "true"` may use PostgreSQL, Redis and Sentinel. */
export const CLIENT_SELECTOR = { [LABEL_CLIENT]: 'true' };
/** The chaos runner's in-cluster probe. */
export const CHAOS_PROBE_SELECTOR = { 'ha-tier.dev/chaos-probe': 'true' };

export class HaTierChart extends Chart {
  public readonly etcd: EtcdCluster;
  public readonly patroni: PatroniCluster;
  public readonly redis: RedisSentinel;

  constructor(scope: Construct, id: string, props: HaTierChartProps = {}) {
    const namespace = props.namespace ?? 'ha-tier';
    super(scope, id, {
      ...props,
      namespace,
      labels: { 'app.kubernetes.io/managed-by': 'cdk8s', ...(props.labels ?? {}) },
    });

    new kplus.Namespace(this, 'Namespace', {
      metadata: {
        name: namespace,
        labels: {
          'pod-security.kubernetes.io/enforce': 'restricted',
          'pod-security.kubernetes.io/enforce-version': 'v1.28',
          'pod-security.kubernetes.io/warn': 'restricted',
        },
      },
    });

    const probe = props.allowChaosProbe ?? true ? [CHAOS_PROBE_SELECTOR] : [];
    this.etcd = new EtcdCluster(this, 'etcd', {
      ...props.etcd,
      clientSelectors: [...(props.etcd?.clientSelectors ?? []), PatroniCluster.podSelector(), ...probe],
    });
    const domain = props.etcd?.clusterDomain ?? 'cluster.local';
    this.patroni = new PatroniCluster(this, 'postgres', {
      ...props.patroni,
      etcdHosts: this.etcd.clientUrls.map((u) => u.replace('http://', '')),
      clientSelectors: [...(props.patroni?.clientSelectors ?? []), CLIENT_SELECTOR],
      restApiClientSelectors: [...(props.patroni?.restApiClientSelectors ?? []), ...probe],
    });
    this.redis = new RedisSentinel(this, 'redis', {
      clusterDomain: domain,
      ...props.redis,
      clientSelectors: [...(props.redis?.clientSelectors ?? []), CLIENT_SELECTOR],
    });
  }
}
