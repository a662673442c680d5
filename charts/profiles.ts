/**
 * Profiles: the same constructs sized and spread for where they run.
 * - `kind` (default): 3 of each, one per worker of kind/cluster.yaml, the `standard` local-path class,
 *   failover settings tuned for fast, measured failover.
 * - `minimal`: one of each for a small laptop. It has no high availability at all: losing any pod
 *   stops that component until Kubernetes restarts it, and Sentinel/Patroni have nothing to fail over to.
 * - `production`: 3 of each spread over zones and nodes, a named StorageClass and larger sizes.
 * - `compose-baseline`: the `kind` layout with the settings of the docker-compose stack this project
 *   ports (Patroni ttl 30 / loop_wait 10 / retry_timeout 10, Sentinel down-after 5000 ms, no preStop
 *   hand-over), for `npm run chaos -- --baseline` to compare against.
 */
import { ConfigError, show } from './errors.js';
import { HaTierChartProps } from './ha-tier-chart.js';

export const PROFILES = ['kind', 'minimal', 'production', 'compose-baseline'] as const;
export type ProfileName = (typeof PROFILES)[number];

export interface ProfileOptions {
  /** Production only: StorageClass of every volume. @default 'standard' */
  readonly storageClassName?: string;
}

/** The settings the project ships with, chosen and measured for fast failover on kind. */
const FAST_FAILOVER = {
  // ttl 20 is Patroni 4's smallest: it bounds how long a leader that cannot renew its lock keeps it.
  patroni: { ttl: 20, loopWait: 2, retryTimeout: 4, synchronousMode: true },
  // down-after 3 s, not 1: on a busy 2-vCPU machine a healthy master missed its pings for 1.1-1.4 s
  // and two sentinels replaced it, losing acknowledged writes (docs/results.md, "A busy machine").
  // min-replicas-max-lag stays 1 s (<= down-after): a master cut off from its replicas stops taking
  // writes long before the sentinels replace it.
  redis: { downAfterMilliseconds: 3000, minReplicasMaxLag: 1, failoverTimeoutMilliseconds: 10000 },
};

export function profile(name: string, options: ProfileOptions = {}): HaTierChartProps {
  switch (name) {
    case 'kind':
      return {
        etcd: { replicas: 3, topology: 'host', storage: { size: '1Gi', storageClassName: 'standard' } },
        patroni: { ...FAST_FAILOVER.patroni, replicas: 3, topology: 'host', storage: { size: '2Gi', storageClassName: 'standard' } },
        redis: { ...FAST_FAILOVER.redis, replicas: 3, sentinels: 3, quorum: 2, topology: 'host', storage: { size: '1Gi', storageClassName: 'standard' } },
      };
    case 'minimal':
      return {
        router: { replicas: 1, topology: 'none' },
        etcd: {
          replicas: 1, highAvailability: false, topology: 'none',
          resources: { cpuRequest: '25m', memoryRequest: '64Mi', memoryLimit: '192Mi' },
          storage: { size: '512Mi' },
        },
        patroni: {
          ...FAST_FAILOVER.patroni, replicas: 1, highAvailability: false, topology: 'none',
          // No standby exists to be synchronous with: commits would wait forever in strict mode.
          synchronousMode: false,
          resources: { cpuRequest: '50m', memoryRequest: '160Mi', memoryLimit: '384Mi' },
          storage: { size: '1Gi' },
        },
        redis: {
          ...FAST_FAILOVER.redis, replicas: 1, sentinels: 1, quorum: 1, highAvailability: false, topology: 'none',
          minReplicasToWrite: 0,
          resources: { cpuRequest: '25m', memoryRequest: '48Mi', memoryLimit: '128Mi' },
          maxmemory: '64Mi',
          storage: { size: '512Mi' },
        },
      };
    case 'production': {
      const storageClassName = options.storageClassName ?? 'standard';
      return {
        allowChaosProbe: false,
        router: { replicas: 2, topology: 'zone' },
        etcd: {
          replicas: 3, topology: 'zone', quotaBackendBytes: '2Gi',
          resources: { cpuRequest: '500m', memoryRequest: '1Gi', memoryLimit: '2Gi' },
          storage: { size: '20Gi', storageClassName },
        },
        patroni: {
          replicas: 3, topology: 'zone', ttl: 30, loopWait: 10, retryTimeout: 10, synchronousMode: true,
          resources: { cpuRequest: '2', memoryRequest: '4Gi', memoryLimit: '4Gi' },
          parameters: { shared_buffers: '1GB', max_connections: 200 },
          storage: { size: '100Gi', storageClassName },
        },
        redis: {
          replicas: 3, sentinels: 3, quorum: 2, topology: 'zone', downAfterMilliseconds: 5000,
          resources: { cpuRequest: '500m', memoryRequest: '2Gi', memoryLimit: '2Gi' },
          sentinelResources: { cpuRequest: '100m', memoryRequest: '64Mi', memoryLimit: '128Mi' },
          maxmemory: '1536Mi',
          storage: { size: '10Gi', storageClassName },
        },
      };
    }
    case 'compose-baseline': {
      const base = profile('kind');
      return {
        ...base,
        // Patroni's defaults, as the compose stack ran it: 300 s of restart attempts, no failsafe mode.
        patroni: { ...base.patroni, ttl: 30, loopWait: 10, retryTimeout: 10, switchoverOnDelete: false, primaryStartTimeout: 300, failsafeMode: false },
        redis: { ...base.redis, downAfterMilliseconds: 5000, handOverOnDelete: false },
      };
    }
    default:
      throw new ConfigError(`Unknown profile ${show(name)}: use one of ${PROFILES.join(', ')}.`);
  }
}
