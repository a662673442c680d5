/**
 * Redis with Sentinel: a StatefulSet of Redis servers (one master, the rest replicas) and a
 * StatefulSet of Sentinels that watch them and fail over, all addressed by stable DNS names.
 */
import * as kplus from 'cdk8s-plus-28';
import { Construct } from 'constructs';
import { k8s } from '../imports/k8s.js';
import {
  ResourceProps, StorageProps, Topology, TOPOLOGIES, componentLabels, containerSecurityContext, defaultImage,
  disruptionBudget, namespaceOf, parseQuantity, podHost, podIdentityEnv, podSecurityContext, resourceRequirements,
  scheduling, service, validateResources, volumeClaimTemplate,
} from './common.js';
import { ConfigError, requireInteger, requireOneOf, show } from './errors.js';

export interface RedisSentinelProps {
  /**
   * Redis servers: one master plus `replicas - 1` replicas. At least 3 when `highAvailability` is on.
   * @default 3
   */
  readonly replicas?: number;
  /**
   * Sentinels. At least 3 when `highAvailability` is on.
   * @default 3
   */
  readonly sentinels?: number;
  /**
   * Sentinels that must agree a master is down before a failover; a majority of `sentinels`.
   * @default 2
   */
  readonly quorum?: number;
  /**
   * Whether this is an HA layout: refuses fewer than 3 servers or 3 sentinels.
   * @default true
   */
  readonly highAvailability?: boolean;
  /**
   * The name Sentinel monitors the master under (clients ask Sentinel for it).
   * @default 'mymaster'
   */
  readonly masterName?: string;
  /**
   * `down-after-milliseconds`: how long a master must be unreachable before it is considered down.
   * @default 5000
   */
  readonly downAfterMilliseconds?: number;
  /**
   * `failover-timeout` in milliseconds.
   * @default 10000
   */
  readonly failoverTimeoutMilliseconds?: number;
  /**
   * `parallel-syncs`: replicas resynchronised with a new master at once.
   * @default 1
   */
  readonly parallelSyncs?: number;
  /**
   * `min-replicas-to-write`: the master refuses writes unless this many replicas are connected with a
   * lag of at most `minReplicasMaxLag` seconds; bounds what an isolated master can accept and lose.
   * @default 1 when `highAvailability` is on, else 0
   */
  readonly minReplicasToWrite?: number;
  /**
   * `min-replicas-max-lag` in seconds.
   * @default 10
   */
  readonly minReplicasMaxLag?: number;
  /**
   * `maxmemory` of each server (a quantity); `noeviction` applies, so writes fail when full.
   * @default '96Mi'
   */
  readonly maxmemory?: string;
  /**
   * Whether a deleted master first hands over (preStop: pause writes, wait for the replicas, `SENTINEL
   * FAILOVER`, wait for every sentinel to agree, demote itself), so a graceful delete loses nothing.
   * @default true
   */
  readonly handOverOnDelete?: boolean;
  /**
   * Secret holding the password (key `password`) used by servers, replicas and sentinels. Created at
   * deploy time (`npm run up`), never synthesized.
   * @default 'redis-credentials'
   */
  readonly credentialsSecretName?: string;
  /**
   * Container image with redis-server, redis-sentinel and the scripts.
   * @default - ha-tier/redis at the tag in images/images.json
   */
  readonly image?: string;
  /**
   * Each server's data volume (AOF and RDB).
   * @default { size: '1Gi' } on the cluster's default StorageClass
   */
  readonly storage?: StorageProps;
  /**
   * Requests and limits of a Redis server.
   * @default { cpuRequest: '50m', memoryRequest: '64Mi', memoryLimit: '192Mi' }
   */
  readonly resources?: ResourceProps;
  /**
   * Requests and limits of a Sentinel.
   * @default { cpuRequest: '20m', memoryRequest: '24Mi', memoryLimit: '64Mi' }
   */
  readonly sentinelResources?: ResourceProps;
  /**
   * How servers (and, separately, sentinels) are spread over nodes and zones.
   * @default 'host'
   */
  readonly topology?: Topology;
  /**
   * Label sets of pods (besides the tier's own) allowed to reach Redis (6379) and Sentinel (26379).
   * @default - only the servers and sentinels
   */
  readonly clientSelectors?: Record<string, string>[];
  /**
   * Seconds a deleted server gets for the hand-over and a clean shutdown.
   * @default 30
   */
  readonly terminationGracePeriodSeconds?: number;
  /**
   * The cluster's DNS domain, part of the stable names Redis and Sentinel announce.
   * @default 'cluster.local'
   */
  readonly clusterDomain?: string;
}

export class RedisSentinel extends Construct {
  public readonly name = 'redis';
  public readonly sentinelName = 'sentinel';
  public readonly headlessServiceName = 'redis-headless';
  public readonly sentinelHeadlessServiceName = 'sentinel-headless';
  /** Client service over the sentinels (26379): what Sentinel-aware clients are given. */
  public readonly sentinelServiceName = 'sentinel';
  public readonly masterName: string;
  public readonly credentialsSecretName: string;
  public readonly replicas: number;
  public readonly sentinels: number;
  public readonly quorum: number;
  public readonly downAfterMilliseconds: number;
  public readonly selectorLabels: Record<string, string>;
  public readonly sentinelSelectorLabels: Record<string, string>;
  public readonly statefulSet: k8s.KubeStatefulSet;
  public readonly sentinelStatefulSet: k8s.KubeStatefulSet;

  constructor(scope: Construct, id: string, props: RedisSentinelProps = {}) {
    super(scope, id);
    const owner = `RedisSentinel '${id}'`;
    const ha = props.highAvailability ?? true;
    const replicas = props.replicas ?? 3;
    const sentinels = props.sentinels ?? 3;
    const quorum = props.quorum ?? 2;
    const downAfter = props.downAfterMilliseconds ?? 5000;
    const failoverTimeout = props.failoverTimeoutMilliseconds ?? 10000;
    const parallelSyncs = props.parallelSyncs ?? 1;
    const minReplicas = props.minReplicasToWrite ?? (ha ? 1 : 0);
    const minReplicasLag = props.minReplicasMaxLag ?? 10;
    const maxmemory = props.maxmemory ?? '96Mi';
    const topology = requireOneOf(owner, 'topology', props.topology ?? 'host', TOPOLOGIES);
    const resources = props.resources ?? { cpuRequest: '50m', memoryRequest: '64Mi', memoryLimit: '192Mi' };
    const sentinelResources = props.sentinelResources ?? { cpuRequest: '20m', memoryRequest: '24Mi', memoryLimit: '64Mi' };
    const storage = props.storage ?? { size: '1Gi' };
    const grace = props.terminationGracePeriodSeconds ?? 30;
    const domain = props.clusterDomain ?? 'cluster.local';
    this.masterName = props.masterName ?? 'mymaster';
    this.credentialsSecretName = props.credentialsSecretName ?? 'redis-credentials';

    requireInteger(owner, 'replicas', replicas, 1);
    requireInteger(owner, 'sentinels', sentinels, 1);
    if (ha && replicas < 3) {
      throw new ConfigError(`${owner}: 'replicas' (${replicas}) must be at least 3 in a highly available layout (a master and two replicas), or turn 'highAvailability' off.`);
    }
    if (ha && sentinels < 3) {
      throw new ConfigError(`${owner}: 'sentinels' (${sentinels}) must be at least 3 in a highly available layout, so that a majority survives losing one, or turn 'highAvailability' off.`);
    }
    requireInteger(owner, 'quorum', quorum, 1);
    if (quorum > sentinels) {
      throw new ConfigError(`${owner}: 'quorum' (${quorum}) must not exceed 'sentinels' (${sentinels}); no failover could ever be agreed.`);
    }
    const majority = Math.floor(sentinels / 2) + 1;
    if (quorum < majority) {
      throw new ConfigError(`${owner}: 'quorum' (${quorum}) must be a majority of the ${sentinels} sentinels, at least ${majority}, so that two partitions cannot each fail over.`);
    }
    requireInteger(owner, 'downAfterMilliseconds', downAfter, 100);
    requireInteger(owner, 'failoverTimeoutMilliseconds', failoverTimeout, 1000);
    requireInteger(owner, 'parallelSyncs', parallelSyncs, 1);
    requireInteger(owner, 'minReplicasToWrite', minReplicas, 0, replicas - 1);
    requireInteger(owner, 'minReplicasMaxLag', minReplicasLag, 1);
    requireInteger(owner, 'terminationGracePeriodSeconds', grace, 0);
    if (!/^[A-Za-z0-9._-]+$/.test(this.masterName)) {
      throw new ConfigError(`${owner}: 'masterName' (${show(this.masterName)}) must be letters, digits, dots, dashes or underscores.`);
    }
    const maxmemoryBytes = parseQuantity(owner, 'maxmemory', maxmemory);
    validateResources(owner, 'resources', resources);
    validateResources(owner, 'sentinelResources', sentinelResources);
    parseQuantity(owner, 'storage.size', storage.size);
    if (maxmemoryBytes >= parseQuantity(owner, 'resources.memoryLimit', resources.memoryLimit)) {
      throw new ConfigError(`${owner}: 'maxmemory' (${show(maxmemory)}) must be below 'resources.memoryLimit' (${show(resources.memoryLimit)}), leaving room for replication buffers and forks.`);
    }

    this.replicas = replicas;
    this.sentinels = sentinels;
    this.quorum = quorum;
    this.downAfterMilliseconds = downAfter;
    const ns = namespaceOf(this);
    const redisLabels = componentLabels(this.name, 'cache');
    const sentinelLabels = componentLabels(this.sentinelName, 'sentinel');
    this.selectorLabels = redisLabels.selector;
    this.sentinelSelectorLabels = sentinelLabels.selector;
    const redisHosts = Array.from({ length: replicas }, (_, i) => podHost(this.name, i, this.headlessServiceName, ns, domain));
    const sentinelHosts = Array.from({ length: sentinels }, (_, i) => podHost(this.sentinelName, i, this.sentinelHeadlessServiceName, ns, domain));

    // Base configuration without secrets; the start scripts add addresses, roles and the password.
    const config = new kplus.ConfigMap(this, 'Config', { metadata: { name: this.name, labels: redisLabels.all } });
    config.addData('redis.conf', [
      '# Base Redis configuration (generated by cdk8s; redis-start adds role, addresses and auth).',
      'bind 0.0.0.0',
      'protected-mode no',
      'appendonly yes',
      'appendfsync everysec',
      `maxmemory ${Math.round(maxmemoryBytes)}`,
      'maxmemory-policy noeviction',
      `min-replicas-to-write ${minReplicas}`,
      `min-replicas-max-lag ${minReplicasLag}`,
      'replica-serve-stale-data yes',
      'replica-read-only yes',
      'repl-diskless-sync yes',
      'repl-diskless-sync-delay 0',
      'tcp-keepalive 10',
      '',
    ].join('\n'));
    config.addData('sentinel.conf', [
      '# Base Sentinel configuration (generated by cdk8s; sentinel-start adds the monitor, identity and auth).',
      'bind 0.0.0.0',
      'protected-mode no',
      'sentinel resolve-hostnames yes',
      'sentinel announce-hostnames yes',
      '',
    ].join('\n'));

    const passwordEnv: k8s.EnvVar = {
      name: 'REDIS_PASSWORD', valueFrom: { secretKeyRef: { name: this.credentialsSecretName, key: 'password' } },
    };
    const commonEnv: k8s.EnvVar[] = [
      ...podIdentityEnv(),
      passwordEnv,
      { name: 'REDIS_MASTER_NAME', value: this.masterName },
      { name: 'REDIS_PORT', value: '6379' },
      { name: 'SENTINEL_PORT', value: '26379' },
      { name: 'REDIS_HOSTS', value: redisHosts.join(' ') },
      { name: 'SENTINEL_HOSTS', value: sentinelHosts.join(' ') },
    ];
    const runVolume: k8s.Volume = { name: 'run', emptyDir: { medium: 'Memory', sizeLimit: k8s.Quantity.fromString('8Mi') } };
    const configVolume: k8s.Volume = { name: 'config', configMap: { name: config.name } };
    const exec = (...command: string[]): k8s.ExecAction => ({ command });

    service(this, 'Headless', {
      name: this.headlessServiceName, labels: redisLabels.all, selector: redisLabels.selector, headless: true,
      ports: [{ name: 'redis', port: 6379 }],
    });
    service(this, 'SentinelHeadless', {
      name: this.sentinelHeadlessServiceName, labels: sentinelLabels.all, selector: sentinelLabels.selector, headless: true,
      ports: [{ name: 'sentinel', port: 26379 }],
    });
    service(this, 'SentinelClient', {
      name: this.sentinelServiceName, labels: sentinelLabels.all, selector: sentinelLabels.selector,
      ports: [{ name: 'sentinel', port: 26379 }],
    });

    // Raw StatefulSets: cdk8s-plus-28's have no volumeClaimTemplates nor lifecycle hooks.
    this.statefulSet = new k8s.KubeStatefulSet(this, 'Resource', {
      metadata: { name: this.name, labels: redisLabels.all },
      spec: {
        serviceName: this.headlessServiceName,
        replicas,
        // Roles are decided by asking the sentinels (or, on first start, by ordinal): no ordering needed.
        podManagementPolicy: 'Parallel',
        selector: { matchLabels: redisLabels.selector },
        template: {
          metadata: { labels: redisLabels.all },
          spec: {
            securityContext: podSecurityContext(),
            automountServiceAccountToken: false,
            enableServiceLinks: false,
            terminationGracePeriodSeconds: grace,
            ...scheduling(topology, redisLabels.selector),
            containers: [{
              name: 'redis',
              image: props.image ?? defaultImage('redis'),
              imagePullPolicy: 'IfNotPresent',
              command: ['/usr/local/bin/redis-start'],
              env: [
                ...commonEnv,
                { name: 'REDIS_ANNOUNCE_HOSTNAME', value: `$(POD_NAME).${this.headlessServiceName}.${ns}.svc.${domain}` },
                // A killed master that returns while the sentinels still name it waits this long for
                // their failover before it takes the master role back (see images/redis/redis-start).
                { name: 'REDIS_MASTER_RESTART_WAIT_SECONDS', value: String(Math.ceil(downAfter / 1000) + 10) },
              ],
              ports: [{ name: 'redis', containerPort: 6379 }],
              startupProbe: { exec: exec('/usr/local/bin/redis-health', 'liveness'), periodSeconds: 2, failureThreshold: 60 },
              // Ready: answers PING and is a master, or a replica whose link to the master is up.
              readinessProbe: { exec: exec('/usr/local/bin/redis-health', 'readiness'), periodSeconds: 3, timeoutSeconds: 2, failureThreshold: 2 },
              livenessProbe: { exec: exec('/usr/local/bin/redis-health', 'liveness'), periodSeconds: 10, timeoutSeconds: 5, failureThreshold: 3 },
              ...(props.handOverOnDelete ?? true
                ? { lifecycle: { preStop: { exec: exec('/usr/local/bin/redis-prestop') } } }
                : {}),
              resources: resourceRequirements(resources),
              securityContext: containerSecurityContext(),
              volumeMounts: [
                { name: 'data', mountPath: '/data' },
                { name: 'config', mountPath: '/etc/redis', readOnly: true },
                { name: 'run', mountPath: '/run/redis' },
              ],
            }],
            volumes: [configVolume, runVolume],
          },
        },
        volumeClaimTemplates: [volumeClaimTemplate('data', storage)],
      },
    });

    this.sentinelStatefulSet = new k8s.KubeStatefulSet(this, 'Sentinels', {
      metadata: { name: this.sentinelName, labels: sentinelLabels.all },
      spec: {
        serviceName: this.sentinelHeadlessServiceName,
        replicas: sentinels,
        podManagementPolicy: 'Parallel',
        selector: { matchLabels: sentinelLabels.selector },
        template: {
          metadata: { labels: sentinelLabels.all },
          spec: {
            securityContext: podSecurityContext(),
            automountServiceAccountToken: false,
            enableServiceLinks: false,
            terminationGracePeriodSeconds: 10,
            ...scheduling(topology, sentinelLabels.selector),
            containers: [{
              name: 'sentinel',
              image: props.image ?? defaultImage('redis'),
              imagePullPolicy: 'IfNotPresent',
              command: ['/usr/local/bin/sentinel-start'],
              env: [
                ...commonEnv,
                { name: 'SENTINEL_ANNOUNCE_HOSTNAME', value: `$(POD_NAME).${this.sentinelHeadlessServiceName}.${ns}.svc.${domain}` },
                { name: 'SENTINEL_QUORUM', value: String(quorum) },
                { name: 'SENTINEL_DOWN_AFTER_MS', value: String(downAfter) },
                { name: 'SENTINEL_FAILOVER_TIMEOUT_MS', value: String(failoverTimeout) },
                { name: 'SENTINEL_PARALLEL_SYNCS', value: String(parallelSyncs) },
              ],
              ports: [{ name: 'sentinel', containerPort: 26379 }],
              startupProbe: { exec: exec('/usr/local/bin/sentinel-health', 'liveness'), periodSeconds: 2, failureThreshold: 90 },
              // Ready: this sentinel monitors a master it can name.
              readinessProbe: { exec: exec('/usr/local/bin/sentinel-health', 'readiness'), periodSeconds: 5, timeoutSeconds: 2, failureThreshold: 2 },
              livenessProbe: { exec: exec('/usr/local/bin/sentinel-health', 'liveness'), periodSeconds: 10, timeoutSeconds: 5, failureThreshold: 3 },
              resources: resourceRequirements(sentinelResources),
              securityContext: containerSecurityContext(),
              volumeMounts: [
                { name: 'config', mountPath: '/etc/redis', readOnly: true },
                { name: 'run', mountPath: '/run/redis' },
              ],
            }],
            volumes: [configVolume, runVolume],
          },
        },
      },
    });

    disruptionBudget(this, 'Budget', this.name, redisLabels.selector, redisLabels.all);
    disruptionBudget(this, 'SentinelBudget', this.sentinelName, sentinelLabels.selector, sentinelLabels.all);

    // Redis from its peers (replication), the sentinels and clients; Sentinel from sentinels (they
    // also talk through the master's pub/sub), the servers (the hand-over hook asks them) and clients.
    const servers = kplus.Pods.select(this, 'Servers', { labels: redisLabels.selector });
    const watchers = kplus.Pods.select(this, 'Watchers', { labels: sentinelLabels.selector });
    const clients = (props.clientSelectors ?? []).map((sel, i) => kplus.Pods.select(this, `Clients${i}`, { labels: sel }));
    const redisPolicy = new kplus.NetworkPolicy(this, 'Policy', {
      metadata: { name: this.name, labels: redisLabels.all },
      selector: kplus.Pods.select(this, 'PolicyServers', { labels: redisLabels.selector }),
    });
    const sentinelPolicy = new kplus.NetworkPolicy(this, 'SentinelPolicy', {
      metadata: { name: this.sentinelName, labels: sentinelLabels.all },
      selector: kplus.Pods.select(this, 'PolicyWatchers', { labels: sentinelLabels.selector }),
    });
    for (const peer of [servers, watchers, ...clients]) {
      redisPolicy.addIngressRule(peer, [kplus.NetworkPolicyPort.tcp(6379)]);
      sentinelPolicy.addIngressRule(peer, [kplus.NetworkPolicyPort.tcp(26379)]);
    }
  }
}
