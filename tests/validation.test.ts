/** Bad props fail synth before anything is written, with one sentence naming prop, value and what is allowed. */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { ConfigError, HaTierChartProps, profile } from '../charts/index.js';
import { objectsOf } from './support/synth.js';

const kind = profile('kind');

function failsWith(props: HaTierChartProps, message: string) {
  assert.throws(() => objectsOf(props), (err: Error) => {
    assert.instance(err, ConfigError);
    assert.is(err.message, message);
    return true;
  });
}

const Etcd = suite('etcd validation');
Etcd('an even member count is refused', () => {
  failsWith({ ...kind, etcd: { ...kind.etcd, replicas: 4 } },
    "EtcdCluster 'etcd': 'replicas' (4) must be odd: an even member count tolerates no more failures than one member fewer; use 3 or 5.");
});
Etcd('fewer than 3 members are refused in an HA layout', () => {
  failsWith({ ...kind, etcd: { ...kind.etcd, replicas: 1 } },
    "EtcdCluster 'etcd': 'replicas' (1) must be at least 3 in a highly available layout; use 3 or 5, or turn 'highAvailability' off for a single member.");
});
Etcd('a single member is fine when HA is off', () => {
  const objs = objectsOf({ ...kind, etcd: { ...kind.etcd, replicas: 1, highAvailability: false } });
  assert.is((objs.find((o) => o.kind === 'StatefulSet' && o.metadata.name === 'etcd') as any).spec.replicas, 1);
});
Etcd('a non-integer member count is refused', () => {
  failsWith({ ...kind, etcd: { replicas: 2.5 } }, "EtcdCluster 'etcd': 'replicas' (2.5) must be an integer of at least 1.");
});
Etcd('a malformed quantity is refused, naming the prop', () => {
  failsWith({ ...kind, etcd: { ...kind.etcd, resources: { cpuRequest: '50m', memoryRequest: '128MB', memoryLimit: '256Mi' } } },
    "EtcdCluster 'etcd': 'resources.memoryRequest' (\"128MB\") is not a Kubernetes quantity; use a number with an optional suffix such as 250m, 512Mi or 2Gi.");
  failsWith({ ...kind, etcd: { ...kind.etcd, storage: { size: 'lots' } } },
    "EtcdCluster 'etcd': 'storage.size' (\"lots\") is not a Kubernetes quantity; use a number with an optional suffix such as 250m, 512Mi or 2Gi.");
});
Etcd('a memory limit below the request is refused', () => {
  failsWith({ ...kind, etcd: { ...kind.etcd, resources: { cpuRequest: '50m', memoryRequest: '1Gi', memoryLimit: '512Mi' } } },
    "EtcdCluster 'etcd': 'resources.memoryLimit' (\"512Mi\") must be at least 'resources.memoryRequest' (\"1Gi\").");
});
Etcd('an unknown topology is refused with the allowed values', () => {
  failsWith({ ...kind, etcd: { ...kind.etcd, topology: 'rack' as never } },
    "EtcdCluster 'etcd': 'topology' (\"rack\") must be one of none, host, zone.");
});
Etcd('an election timeout under 5 heartbeats is refused, naming both fields', () => {
  failsWith({ ...kind, etcd: { ...kind.etcd, heartbeatIntervalMs: 300, electionTimeoutMs: 1000 } },
    "EtcdCluster 'etcd': 'electionTimeoutMs' (1000) must be at least 5 × 'heartbeatIntervalMs' (300), i.e. at least 1500: etcd refuses a shorter one.");
  failsWith({ ...kind, etcd: { ...kind.etcd, electionTimeoutMs: 60_000 } }, "EtcdCluster 'etcd': 'electionTimeoutMs' (60000) must be an integer from 1 to 50000.");
});
Etcd.run();

const Patroni = suite('Patroni validation');
Patroni('loop_wait + 2 × retry_timeout above ttl is refused', () => {
  failsWith({ ...kind, patroni: { ...kind.patroni, ttl: 20, loopWait: 2, retryTimeout: 10 } },
    "PatroniCluster 'postgres': 'loopWait' + 2 × 'retryTimeout' (2 + 2 × 10 = 22) must not exceed 'ttl' (20), or a leader can lose its lock while it is still retrying.");
});
Patroni('exactly ttl is accepted', () => {
  assert.ok(objectsOf({ ...kind, patroni: { ...kind.patroni, ttl: 20, loopWait: 2, retryTimeout: 9 } }).length > 0);
});
Patroni('a ttl or retry_timeout below Patroni\'s own floor is refused (Patroni would raise it without saying so)', () => {
  failsWith({ ...kind, patroni: { ...kind.patroni, ttl: 10 } }, "PatroniCluster 'postgres': 'ttl' (10) must be an integer of at least 20.");
  failsWith({ ...kind, patroni: { ...kind.patroni, retryTimeout: 2 } }, "PatroniCluster 'postgres': 'retryTimeout' (2) must be an integer of at least 3.");
});
Patroni('fewer than 3 members are refused in an HA layout', () => {
  failsWith({ ...kind, patroni: { ...kind.patroni, replicas: 2 } },
    "PatroniCluster 'postgres': 'replicas' (2) must be at least 3 in a highly available layout (one leader and two replicas to fail over to), or turn 'highAvailability' off.");
});
Patroni('a malformed scope is refused', () => {
  failsWith({ ...kind, patroni: { ...kind.patroni, scope: 'My Cluster' } },
    "PatroniCluster 'postgres': 'scope' (\"My Cluster\") must be lowercase letters, digits and dashes.");
});
Patroni.run();

const Redis = suite('Redis Sentinel validation');
Redis('a quorum larger than the sentinels is refused', () => {
  failsWith({ ...kind, redis: { ...kind.redis, quorum: 4 } },
    "RedisSentinel 'redis': 'quorum' (4) must not exceed 'sentinels' (3); no failover could ever be agreed.");
});
Redis('a quorum that is not a majority is refused', () => {
  failsWith({ ...kind, redis: { ...kind.redis, sentinels: 5, quorum: 2 } },
    "RedisSentinel 'redis': 'quorum' (2) must be a majority of the 5 sentinels, at least 3, so that two partitions cannot each fail over.");
});
Redis('fewer than 3 sentinels are refused in an HA layout', () => {
  failsWith({ ...kind, redis: { ...kind.redis, sentinels: 2, quorum: 2 } },
    "RedisSentinel 'redis': 'sentinels' (2) must be at least 3 in a highly available layout, so that a majority survives losing one, or turn 'highAvailability' off.");
});
Redis('maxmemory must leave room below the memory limit', () => {
  failsWith({ ...kind, redis: { ...kind.redis, maxmemory: '1Gi' } },
    "RedisSentinel 'redis': 'maxmemory' (\"1Gi\") must be below 'resources.memoryLimit' (\"192Mi\"), leaving room for replication buffers and forks.");
});
Redis('min-replicas-to-write cannot exceed the replicas there are', () => {
  failsWith({ ...kind, redis: { ...kind.redis, minReplicasToWrite: 3 } },
    "RedisSentinel 'redis': 'minReplicasToWrite' (3) must be an integer from 0 to 2.");
});
Redis.run();

const Profiles = suite('profiles');
Profiles('an unknown profile is refused with the allowed names', () => {
  assert.throws(() => profile('large'), (err: Error) => err.message === 'Unknown profile "large": use one of kind, minimal, production, compose-baseline.');
});
Profiles.run();

const Images = suite('image references');
Images('a registry and a digest make the reference; other images keep their tag alone', () => {
  const digest = `sha256:${'ab'.repeat(32)}`;
  const objs = objectsOf({ ...profile('production'), images: { registry: 'registry.example.com:5000/platform', digests: { etcd: digest } } }) as any[];
  const imageOf = (name: string) => objs.find((o) => o.kind === 'StatefulSet' && o.metadata.name === name).spec.template.spec.containers[0].image;
  assert.match(imageOf('etcd'), new RegExp(`^registry\\.example\\.com:5000/platform/ha-tier/etcd:[^@]+@${digest}$`));
  assert.match(imageOf('postgres'), /^registry\.example\.com:5000\/platform\/ha-tier\/patroni:[^@]+$/);
});
Images('a registry without a dot or a port is refused (it would be read as a Docker Hub namespace)', () => {
  failsWith({ ...profile('production'), images: { registry: 'platform' } },
    "HaTierChart 'ha-tier'.images: 'registry' (\"platform\") must be a registry host with a dot or a port, or localhost, and an optional path of lowercase names, e.g. 'registry.example.com/platform' or 'localhost:5000'.");
});
Images('a malformed digest, or one for an image that does not exist, is refused', () => {
  failsWith({ ...profile('production'), images: { digests: { redis: 'sha256:abc' } } },
    "HaTierChart 'ha-tier'.images: 'digests.redis' (\"sha256:abc\") must be 'sha256:' followed by 64 lowercase hexadecimal digits.");
  failsWith({ ...profile('production'), images: { digests: { postgres: `sha256:${'0'.repeat(64)}` } as any } },
    "HaTierChart 'ha-tier'.images: 'digests' names the image \"postgres\", which does not exist; images are etcd, patroni, redis, router.");
});
Images.run();
