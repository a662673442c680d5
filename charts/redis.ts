/**
 * Redis with Sentinel: a StatefulSet of Redis servers (one master, the rest replicas) and a
 * StatefulSet of Sentinels that watch them and fail over, all addressed by stable DNS names.
 */
import * as kplus from 'cdk8s-plus-28';
import { Construct } from 'constructs';
import { CertificateSpec, COMPONENTS, MOUNTS, REDIS_USERS, TLS_FILES, podHost, serviceHost } from '../contract/index.js';
import { k8s } from '../imports/k8s.js';
import {
  ResourceProps, StorageProps, Topology, TOPOLOGIES, clientPeers, componentLabels, defaultImage, disruptionBudget,
  namespaceOf, parseQuantity, secretVolume, service, validateResources,
} from './common.js';
import { ConfigError, requireInteger, requireOneOf, show } from './errors.js';
import { execProbe, memberStatefulSet } from './workload.js';

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
   * `min-replicas-max-lag` in seconds: at most `downAfterMilliseconds`, so that a master cut off from its
   * replicas stops accepting writes no later than the sentinels start replacing it (writes it accepted
   * meanwhile would be discarded when it rejoins as a replica).
   * @default - downAfterMilliseconds in whole seconds, at least 1
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
   * Each sentinel's volume: Sentinel keeps its state (the master it agreed on, its epoch, the replicas
   * and sentinels it knows) in its config file there, so that after a full restart it names the last
   * master instead of guessing.
   * @default { size: '64Mi' } on the class of `storage`
   */
  readonly sentinelStorage?: StorageProps;
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
   * Labels of the other namespaces whose pods (matching `clientSelectors`) may connect too.
   * @default - clients in the tier's namespace only
   */
  readonly clientNamespaceSelector?: Record<string, string>;
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
  public readonly name = COMPONENTS.redis.workload;
  public readonly sentinelName = COMPONENTS.sentinel.workload;
  public readonly masterName: string;
  public readonly credentialsSecretName: string;
  public readonly replicas: number;
  public readonly sentinels: number;
  public readonly quorum: number;
  public readonly downAfterMilliseconds: number;
  public readonly failoverTimeoutMilliseconds: number;
  public readonly minReplicasToWrite: number;
  public readonly minReplicasMaxLag: number;
  public readonly handOverOnDelete: boolean;
  public readonly terminationGracePeriodSeconds: number;
  public readonly selectorLabels: Record<string, string>;
  public readonly sentinelSelectorLabels: Record<string, string>;
  public readonly statefulSet: k8s.KubeStatefulSet;
  public readonly sentinelStatefulSet: k8s.KubeStatefulSet;
  /** The certificate servers and sentinels share (TLS for clients, replication and sentinels). */
  public readonly certificates: CertificateSpec[];

  constructor(scope: Construct, id: string, props: RedisSentinelProps = {}) {
    super(scope, id);
    // 1. Validate.
    const owner = `RedisSentinel '${id}'`;
    const ha = props.highAvailability ?? true;
    const replicas = props.replicas ?? 3;
    const sentinels = props.sentinels ?? 3;
    const quorum = props.quorum ?? 2;
    const downAfter = props.downAfterMilliseconds ?? 5000;
    const failoverTimeout = props.failoverTimeoutMilliseconds ?? 10000;
    const parallelSyncs = props.parallelSyncs ?? 1;
    const minReplicas = props.minReplicasToWrite ?? (ha ? 1 : 0);
    const minReplicasLag = props.minReplicasMaxLag ?? Math.max(1, Math.floor(downAfter / 1000));
    const maxmemory = props.maxmemory ?? '96Mi';
    const topology = requireOneOf(owner, 'topology', props.topology ?? 'host', TOPOLOGIES);
    const resources = props.resources ?? { cpuRequest: '50m', memoryRequest: '64Mi', memoryLimit: '192Mi' };
    const sentinelResources = props.sentinelResources ?? { cpuRequest: '20m', memoryRequest: '24Mi', memoryLimit: '64Mi' };
    const storage = props.storage ?? { size: '1Gi' };
    const sentinelStorage = props.sentinelStorage ?? { size: '64Mi', storageClassName: storage.storageClassName };
    const grace = props.terminationGracePeriodSeconds ?? 30;
    const domain = props.clusterDomain ?? 'cluster.local';
    this.masterName = props.masterName ?? 'mymaster';
    this.credentialsSecretName = props.credentialsSecretName ?? COMPONENTS.redis.secret.name;

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
    if (minReplicasLag * 1000 > downAfter) {
      throw new ConfigError(`${owner}: 'minReplicasMaxLag' (${minReplicasLag} s) must not exceed 'downAfterMilliseconds' (${downAfter} ms): a master cut off from its replicas would accept writes for longer than the sentinels wait before replacing it, and lose them when it rejoins.`);
    }
    requireInteger(owner, 'terminationGracePeriodSeconds', grace, 0);
    if (!/^[A-Za-z0-9._-]+$/.test(this.masterName)) {
      throw new ConfigError(`${owner}: 'masterName' (${show(this.masterName)}) must be letters, digits, dots, dashes or underscores.`);
    }
    const maxmemoryBytes = parseQuantity(owner, 'maxmemory', maxmemory);
    validateResources(owner, 'resources', resources);
    validateResources(owner, 'sentinelResources', sentinelResources);
    parseQuantity(owner, 'storage.size', storage.size);
    parseQuantity(owner, 'sentinelStorage.size', sentinelStorage.size);
    if (maxmemoryBytes >= parseQuantity(owner, 'resources.memoryLimit', resources.memoryLimit)) {
      throw new ConfigError(`${owner}: 'maxmemory' (${show(maxmemory)}) must be below 'resources.memoryLimit' (${show(resources.memoryLimit)}), leaving room for replication buffers and forks.`);
    }
    this.replicas = replicas;
    this.sentinels = sentinels;
    this.quorum = quorum;
    this.downAfterMilliseconds = downAfter;
    this.failoverTimeoutMilliseconds = failoverTimeout;
    this.minReplicasToWrite = minReplicas;
    this.minReplicasMaxLag = minReplicasLag;
    this.handOverOnDelete = props.handOverOnDelete ?? true;
    this.terminationGracePeriodSeconds = grace;

    // 2. Render the base configurations (without secrets; the start scripts add addresses, roles and the password).
    const ns = namespaceOf(this);
    const redisPort = COMPONENTS.redis.ports.redis;
    const sentinelPort = COMPONENTS.sentinel.ports.sentinel;
    const redisHosts = Array.from({ length: replicas }, (_, i) => podHost('redis', i, ns, domain));
    const sentinelHosts = Array.from({ length: sentinels }, (_, i) => podHost('sentinel', i, ns, domain));
    const tls = (f: keyof typeof TLS_FILES) => `${MOUNTS.tls}/${TLS_FILES[f]}`;
    // TLS only, for clients, replication and the sentinels' connections; passwords (ACL users), not
    // client certificates, authenticate.
    const tlsConf = [
      'port 0',
      `tls-cert-file ${tls('cert')}`,
      `tls-key-file ${tls('key')}`,
      `tls-ca-cert-file ${tls('ca')}`,
      'tls-auth-clients no',
      'tls-replication yes',
    ];
    const redisConf = [
      '# Base Redis configuration (generated by cdk8s; redis-start adds role, addresses and the ACL users).',
      'bind 0.0.0.0',
      'protected-mode no',
      `tls-port ${redisPort}`,
      ...tlsConf,
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
    ];
    const sentinelConf = [
      '# Base Sentinel configuration (generated by cdk8s; sentinel-start adds the monitor, identity and auth).',
      'bind 0.0.0.0',
      'protected-mode no',
      `tls-port ${sentinelPort}`,
      ...tlsConf,
      'sentinel resolve-hostnames yes',
      'sentinel announce-hostnames yes',
      '',
    ];

    const headless = (c: 'redis' | 'sentinel') => `${COMPONENTS[c].headlessService}.${ns}.svc`;
    this.certificates = [{
      secret: `${this.name}-tls`,
      commonName: this.name,
      dnsNames: [`*.${headless('redis')}.${domain}`, `*.${headless('redis')}`, `*.${headless('sentinel')}.${domain}`, `*.${headless('sentinel')}`,
        serviceHost(COMPONENTS.sentinel.services.client, ns, domain), `${COMPONENTS.sentinel.services.client}.${ns}.svc`, 'localhost'],
      ipAddresses: ['127.0.0.1'],
      usage: 'server',
    }];

    // 3. Build the objects.
    const redisLabels = componentLabels('redis');
    const sentinelLabels = componentLabels('sentinel');
    this.selectorLabels = redisLabels.selector;
    this.sentinelSelectorLabels = sentinelLabels.selector;
    const config = new kplus.ConfigMap(this, 'Config', { metadata: { name: this.name, labels: redisLabels.all } });
    config.addData('redis.conf', redisConf.join('\n'));
    config.addData('sentinel.conf', sentinelConf.join('\n'));

    const commonEnv: k8s.EnvVar[] = [
      // Passwords and TLS material are files (images/redis/redis-lib.sh reads them).
      { name: 'REDIS_SECRETS_DIR', value: MOUNTS.secrets },
      { name: 'REDIS_TLS_DIR', value: MOUNTS.tls },
      { name: 'REDIS_ACL_USERS', value: Object.values(REDIS_USERS).join(' ') },
      { name: 'REDIS_MASTER_NAME', value: this.masterName },
      { name: 'REDIS_PORT', value: String(redisPort) },
      { name: 'SENTINEL_PORT', value: String(sentinelPort) },
      { name: 'REDIS_HOSTS', value: redisHosts.join(' ') },
      { name: 'SENTINEL_HOSTS', value: sentinelHosts.join(' ') },
    ];
    const runVolume: k8s.Volume = { name: 'run', emptyDir: { medium: 'Memory', sizeLimit: k8s.Quantity.fromString('8Mi') } };
    const configVolume: k8s.Volume = { name: 'config', configMap: { name: config.name } };
    const secretVolumes = [secretVolume('tls', `${this.name}-tls`), secretVolume('secrets', this.credentialsSecretName)];
    const secretMounts: k8s.VolumeMount[] = [
      { name: 'tls', mountPath: MOUNTS.tls, readOnly: true },
      { name: 'secrets', mountPath: MOUNTS.secrets, readOnly: true },
    ];
    const health = (script: string, mode: string) => ['/usr/local/bin/' + script, mode];

    service(this, 'Headless', {
      name: COMPONENTS.redis.headlessService, labels: redisLabels.all, selector: redisLabels.selector, headless: true,
      ports: [{ name: 'redis', port: redisPort }],
    });
    service(this, 'SentinelHeadless', {
      name: COMPONENTS.sentinel.headlessService, labels: sentinelLabels.all, selector: sentinelLabels.selector, headless: true,
      ports: [{ name: 'sentinel', port: sentinelPort }],
    });
    service(this, 'SentinelClient', {
      name: COMPONENTS.sentinel.services.client, labels: sentinelLabels.all, selector: sentinelLabels.selector,
      ports: [{ name: 'sentinel', port: sentinelPort }],
    });

    // Redis and Sentinel mount the same things: their data, the rendered configuration, a scratch
    // directory, and their TLS files and passwords.
    const volumeMounts = [
      { name: 'data', mountPath: '/data' },
      { name: 'config', mountPath: '/etc/redis', readOnly: true },
      { name: 'run', mountPath: '/run/redis' },
      ...secretMounts,
    ];

    this.statefulSet = memberStatefulSet(this, {
      component: 'redis',
      replicas,
      topology,
      // Roles are decided by asking the sentinels (see images/redis/redis-start): no ordering needed.
      podManagementPolicy: 'Parallel',
      terminationGracePeriodSeconds: grace,
      storage,
      container: {
        image: props.image ?? defaultImage('redis'),
        command: ['/usr/local/bin/redis-start'],
        env: [
          ...commonEnv,
          { name: 'REDIS_ANNOUNCE_HOSTNAME', value: `$(POD_NAME).${COMPONENTS.redis.headlessService}.${ns}.svc.${domain}` },
          // A killed master that returns while the sentinels still name it waits this long for
          // their failover before it takes the master role back (see images/redis/redis-start).
          { name: 'REDIS_MASTER_RESTART_WAIT_SECONDS', value: String(Math.ceil(downAfter / 1000) + 10) },
        ],
        // Started: answers PING. The start script may first wait for an older container on the volume
        // (fencing, up to 120 s) and for the sentinels: allow 4 minutes.
        startupProbe: execProbe(health('redis-health', 'liveness'), { periodSeconds: 2, failureThreshold: 120 }),
        // Ready: answers PING and is a master, or a replica whose link to the master is up. Every run also
        // records the server's replication position (the status tool's data-lineage check).
        readinessProbe: execProbe(health('redis-health', 'readiness'), { periodSeconds: 2, timeoutSeconds: 2, failureThreshold: 2 }),
        // Alive: answers PING within 5 s; six misses in a row 10 s apart (a minute) before a restart, so
        // only a hung server is restarted, not one starved of CPU on a busy 2-vCPU machine (CI saw exec
        // probes time out there), and long after any failover it would be part of.
        livenessProbe: execProbe(health('redis-health', 'liveness'), { periodSeconds: 10, timeoutSeconds: 5, failureThreshold: 6 }),
        ...(this.handOverOnDelete ? { lifecycle: { preStop: { exec: { command: ['/usr/local/bin/redis-prestop'] } } } } : {}),
        resources,
        volumeMounts,
      },
      volumes: [configVolume, runVolume, ...secretVolumes],
    });

    this.sentinelStatefulSet = memberStatefulSet(this, {
      component: 'sentinel',
      replicas: sentinels,
      topology,
      podManagementPolicy: 'Parallel',
      terminationGracePeriodSeconds: 10,
      storage: sentinelStorage,
      container: {
        image: props.image ?? defaultImage('redis'),
        command: ['/usr/local/bin/sentinel-start'],
        env: [
          ...commonEnv,
          { name: 'SENTINEL_ANNOUNCE_HOSTNAME', value: `$(POD_NAME).${COMPONENTS.sentinel.headlessService}.${ns}.svc.${domain}` },
          { name: 'SENTINEL_QUORUM', value: String(quorum) },
          { name: 'SENTINEL_DOWN_AFTER_MS', value: String(downAfter) },
          { name: 'SENTINEL_FAILOVER_TIMEOUT_MS', value: String(failoverTimeout) },
          { name: 'SENTINEL_PARALLEL_SYNCS', value: String(parallelSyncs) },
          { name: 'SENTINEL_RESOLVE_TIMEOUT_S', value: '60' },
        ],
        // Started: answers PING; the start script may wait up to 80 s for names to resolve and servers to answer.
        startupProbe: execProbe(health('sentinel-health', 'liveness'), { periodSeconds: 2, failureThreshold: 90 }),
        // Ready: this sentinel monitors a master it can name.
        readinessProbe: execProbe(health('sentinel-health', 'readiness'), { periodSeconds: 5, timeoutSeconds: 2, failureThreshold: 2 }),
        // Alive: as the server's, six misses 10 s apart (a starved sentinel is not a hung one).
        livenessProbe: execProbe(health('sentinel-health', 'liveness'), { periodSeconds: 10, timeoutSeconds: 5, failureThreshold: 6 }),
        resources: sentinelResources,
        volumeMounts,
      },
      volumes: [configVolume, runVolume, ...secretVolumes],
    }, 'Sentinels');

    disruptionBudget(this, 'Budget', this.name, redisLabels.selector, redisLabels.all);
    disruptionBudget(this, 'SentinelBudget', this.sentinelName, sentinelLabels.selector, sentinelLabels.all);

    // Redis from its peers (replication), the sentinels and clients; Sentinel from sentinels (they
    // also talk through the master's pub/sub), the servers (the hand-over hook asks them) and clients.
    const servers = kplus.Pods.select(this, 'Servers', { labels: redisLabels.selector });
    const watchers = kplus.Pods.select(this, 'Watchers', { labels: sentinelLabels.selector });
    const clients = clientPeers(this, 'Clients', props.clientSelectors ?? [], props.clientNamespaceSelector);
    const redisPolicy = new kplus.NetworkPolicy(this, 'Policy', {
      metadata: { name: this.name, labels: redisLabels.all },
      selector: kplus.Pods.select(this, 'PolicyServers', { labels: redisLabels.selector }),
    });
    const sentinelPolicy = new kplus.NetworkPolicy(this, 'SentinelPolicy', {
      metadata: { name: this.sentinelName, labels: sentinelLabels.all },
      selector: kplus.Pods.select(this, 'PolicyWatchers', { labels: sentinelLabels.selector }),
    });
    for (const peer of [servers, watchers, ...clients]) {
      redisPolicy.addIngressRule(peer, [kplus.NetworkPolicyPort.tcp(redisPort)]);
      sentinelPolicy.addIngressRule(peer, [kplus.NetworkPolicyPort.tcp(sentinelPort)]);
    }
  }
}
