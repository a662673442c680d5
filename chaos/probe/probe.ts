/**
 * The chaos probe: runs inside the cluster (pod `chaos-probe`, labelled as a client of the tier) and
 * does what an application does, through the paths an application uses:
 *   - PostgreSQL: INSERTs through the `postgres-primary` Service (pg);
 *   - Redis: SADDs through Sentinel discovery (ioredis, sentinels behind the `sentinel` Service);
 *   - etcd: PUTs across all members (etcd3).
 * Every write carries a unique sequence number. Meanwhile it observes each component's own view:
 *   - every --sample-ms (250; 0 turns sampling off, to measure the probe's own effect): whether each
 *     PostgreSQL pod can acknowledge a commit (a primary whose synchronous standby streams from it) and
 *     its Patroni role, whether each Redis server accepts writes (a master with enough good replicas),
 *     every Sentinel's master, every etcd member's leader;
 *   - as they happen: Patroni's leader key in etcd (a watch) and the Sentinels' events (+sdown,
 *     +odown, +elected-leader, +switch-master; pub/sub).
 * Everything goes to stdout as JSON lines (chaos/history.ts: Event). When the stop file appears (or
 * --max-seconds pass) it stops writing and reports, per system, every sequence number of this run
 * that it can read back (`present`); the runner compares that with the acknowledged writes it saw.
 * `--verify-only` skips the writing (after a fault that killed the probe itself, e.g. a full restart).
 *
 * Client timeouts are those a well-configured application sets (docs/chaos.md): PostgreSQL connect
 * 1 s, statement 2 s, TCP keepalive after 1 s; Redis connect 1 s, command 2 s, keepalive 1 s; etcd
 * 1 s per call. A write that hangs is abandoned at 2.5 s and counted as failed.
 *
 * Credentials, as an application holds them (clients/): the writers use the application's PostgreSQL
 * role and database and Redis ACL user, the samplers the monitoring ones, all over TLS verified
 * against the tier's CA; etcd with the probe's own client certificate (etcd user `chaos`: its own
 * keys, and read-only Patroni's). Files under PROBE_SECRETS_DIR (chaos/trial.ts mounts them).
 *
 * Usage: node probe.cjs --id RUN [--stop-file F] [--max-seconds 300] [--interval-ms 20] [--sample-ms 250] [--verify-only]
 */
import { existsSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { Etcd3 } from 'etcd3';
import { Redis } from 'ioredis';
import pg from 'pg';
import { etcdCredentials, httpsGetJson, readSecretFile, readTlsDir, verifiedTls } from '../../clients/index.js';
import { COMPONENTS, PG_APP, REDIS_USERS, SYSTEMS, System, TierDescriptor, podHost, serviceHost } from '../../contract/index.js';
import { PROBE_FILES } from './files.js';

const { values } = parseArgs({
  options: {
    id: { type: 'string' },
    'stop-file': { type: 'string' },
    'max-seconds': { type: 'string', default: '300' },
    'interval-ms': { type: 'string', default: '20' },
    'sample-ms': { type: 'string', default: '250' },
    'verify-only': { type: 'boolean' },
  },
});
if (!values.id || !/^[a-z0-9-]+$/.test(values.id)) {
  console.error('probe: --id must be lowercase letters, digits and dashes');
  process.exit(2);
}
const RUN = values.id;
const STOP_FILE = values['stop-file'] ?? `/tmp/stop-${RUN}`;
const INTERVAL = Number(values['interval-ms']);
const SAMPLE_MS = Number(values['sample-ms']);
const DEADLINE = Date.now() + Number(values['max-seconds']) * 1000;

const env = (name: string, fallback?: string): string => {
  const v = process.env[name] ?? fallback;
  if (v === undefined) throw new Error(`probe: environment variable ${name} is not set`);
  return v;
};
const TIER = JSON.parse(env('HA_TIER_DESCRIPTOR')) as TierDescriptor;
const NS = TIER.namespace;
const DOMAIN = TIER.clusterDomain;
const ordinal = (pod: string) => Number(pod.slice(pod.lastIndexOf('-') + 1));
const PATRONI_PREFIX = `${TIER.patroni.dcsPrefix}${TIER.patroni.scope}/`;

let stopping = false;
const emit = (e: Record<string, unknown>): void => { process.stdout.write(`${JSON.stringify({ t: Date.now(), ...e })}\n`); };
const short = (err: unknown) => String((err as Error)?.message ?? err).split('\n')[0].slice(0, 120);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const withTimeout = <T>(p: Promise<T>, ms: number, what: string): Promise<T> =>
  Promise.race([p, new Promise<T>((_, reject) => setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms))]);

// ---- clients ----------------------------------------------------------------------------------

const SECRETS = env('PROBE_SECRETS_DIR');
const secretFile = (f: string) => readSecretFile(`${SECRETS}/${f}`);
const ETCD_TLS = readTlsDir(`${SECRETS}/${PROBE_FILES.etcdDir}`);
const CA = ETCD_TLS.ca; // one CA signs every certificate of the tier
interface PgLogin { user: string; password: string; database: string }
const PG_LOGIN: Record<'app' | 'monitor', PgLogin> = {
  app: { user: PG_APP.user, password: secretFile(PROBE_FILES.pgApp), database: TIER.patroni.users.database },
  monitor: { user: PG_APP.monitor, password: secretFile(PROBE_FILES.pgMonitor), database: 'postgres' },
};

const pgConfig = (h: string, statementMs: number, login: PgLogin): pg.ClientConfig => ({
  host: h, port: COMPONENTS.postgres.ports.postgresql, user: login.user, password: login.password, database: login.database,
  ssl: verifiedTls(CA),
  connectionTimeoutMillis: 1000, query_timeout: statementMs, statement_timeout: statementMs, keepAlive: true, keepAliveInitialDelayMillis: 1000,
});

/** A PostgreSQL connection that is rebuilt after any error. */
class PgConn {
  private client?: pg.Client;
  constructor(private readonly h: string, private readonly statementMs = 2000, private readonly login: PgLogin = PG_LOGIN.app) {}
  async query(sql: string, params: unknown[] = []): Promise<pg.QueryResult> {
    if (!this.client) {
      const c = new pg.Client(pgConfig(this.h, this.statementMs, this.login));
      c.on('error', () => { if (this.client === c) this.client = undefined; });
      await c.connect().catch((err) => { c.end().catch(() => {}); throw err; });
      this.client = c;
    }
    try {
      return await this.client.query(sql, params);
    } catch (err) {
      const c = this.client;
      this.client = undefined;
      c?.end().catch(() => {});
      throw err;
    }
  }
}

const REDIS_LOGIN = {
  app: { username: REDIS_USERS.app, password: secretFile(PROBE_FILES.redisApp) },
  monitor: { username: REDIS_USERS.monitor, password: secretFile(PROBE_FILES.redisMonitor) },
};
const redisTls = verifiedTls(CA);
const sentinelService = { host: serviceHost(COMPONENTS.sentinel.services.client, NS, DOMAIN), port: COMPONENTS.sentinel.ports.sentinel };
const primary = new PgConn(serviceHost(COMPONENTS.postgres.services.primary, NS, DOMAIN));
const redis = new Redis({
  sentinels: [sentinelService],
  name: TIER.redis.masterName,
  ...REDIS_LOGIN.app,
  sentinelUsername: REDIS_LOGIN.app.username,
  sentinelPassword: REDIS_LOGIN.app.password,
  tls: redisTls,
  sentinelTLS: redisTls,
  enableTLSForSentinelMode: true,
  role: 'master',
  commandTimeout: 2000,
  connectTimeout: 1000,
  keepAlive: 1000,
  maxRetriesPerRequest: 1,
  enableOfflineQueue: true,
  sentinelRetryStrategy: () => 100,
  retryStrategy: () => 100,
  // A demoted master answers READONLY: ask Sentinel again.
  reconnectOnError: (err: Error) => (err.message.startsWith('READONLY') ? 2 : false),
  // Subscribe to the sentinels' +switch-master, to move as soon as they fail over.
  failoverDetector: true,
  lazyConnect: false,
});
redis.on('error', () => {});
// The client's own state changes, for the report's evidence when a reconnection takes long.
for (const ev of ['ready', 'close', 'end', '+node']) redis.on(ev, () => emit({ k: 'log', msg: `redis client ${ev} (status ${redis.status})` }));
// ioredis 5.11's failover detector races with its own reconnection: a +switch-master that arrives
// while the client is asking the sentinels for the master (after a crashed master refused it) makes
// that connect attempt fail with "Connection is closed." and the client ends for good (status "end",
// every command refused). Seen after redis-master-crash on the lab. An application has to guard
// against it the same way: connect again.
redis.on('end', () => {
  emit({ k: 'log', msg: 'redis client ended by itself: connecting again' });
  setTimeout(() => { redis.connect().catch(() => undefined); }, 100);
});
const etcdHosts = [...TIER.etcd.clientUrls];
const etcdAuth = etcdCredentials(ETCD_TLS);
const etcd = new Etcd3({ hosts: etcdHosts, credentials: etcdAuth, dialTimeout: 1000, defaultCallOptions: () => ({ deadline: Date.now() + 1000 }) });

// ---- writers ----------------------------------------------------------------------------------

const write: Record<System, (seq: number) => Promise<unknown>> = {
  pg: (seq) => primary.query('INSERT INTO chaos_writes (run, seq) VALUES ($1, $2)', [RUN, seq]),
  redis: (seq) => redis.sadd(`chaos:${RUN}`, String(seq)),
  etcd: (seq) => etcd.put(`chaos/${RUN}/${seq}`).value(String(seq)).exec(),
};
const ackedCount: Record<System, number> = { pg: 0, redis: 0, etcd: 0 };

async function writer(s: System): Promise<void> {
  for (let seq = 0; !stopping; seq++) {
    const started = Date.now();
    try {
      await withTimeout(write[s](seq), 2500, `${s} write`);
      ackedCount[s]++;
      emit({ k: 'op', s, seq, ok: true, ms: Date.now() - started });
    } catch (err) {
      emit({ k: 'op', s, seq, ok: false, ms: Date.now() - started, e: short(err) });
    }
    await sleep(Math.max(0, INTERVAL - (Date.now() - started)));
  }
}

// ---- observers --------------------------------------------------------------------------------

const pgPods = new Map(TIER.members.postgres.pods.map((p) => [p, new PgConn(podHost('postgres', ordinal(p), NS, DOMAIN), 500, PG_LOGIN.monitor)]));
// Whether a Redis server accepts writes is asked the only way that cannot be wrong: a write of the
// application's user to a key of its own (a replica answers READONLY, a master refusing NOREPLICAS).
const redisServers = new Map(TIER.members.redis.pods.map((pod) => [pod, new Redis({
  host: podHost('redis', ordinal(pod), NS, DOMAIN), port: COMPONENTS.redis.ports.redis, ...REDIS_LOGIN.app, tls: redisTls,
  commandTimeout: 500, connectTimeout: 500, maxRetriesPerRequest: 0, enableOfflineQueue: false, retryStrategy: () => 200, lazyConnect: false,
})] as const));
const sentinels = new Map(TIER.members.sentinel.pods.map((pod) => [pod, new Redis({
  host: podHost('sentinel', ordinal(pod), NS, DOMAIN), port: COMPONENTS.sentinel.ports.sentinel, ...REDIS_LOGIN.monitor, tls: redisTls,
  commandTimeout: 500, connectTimeout: 500, maxRetriesPerRequest: 0, enableOfflineQueue: false, retryStrategy: () => 200, lazyConnect: false,
})] as const));
for (const c of [...redisServers.values(), ...sentinels.values()]) c.on('error', () => {});
const etcdMembers = new Map(TIER.members.etcd.pods.map((p, i) => [p, new Etcd3({
  hosts: etcdHosts[i], credentials: etcdAuth, dialTimeout: 500, defaultCallOptions: () => ({ deadline: Date.now() + 500 }),
})]));
let etcdNames = new Map<string, string>();

const WRITABLE_SQL = `SELECT NOT pg_is_in_recovery() AS p, NOT pg_is_in_recovery() AND (current_setting('synchronous_standby_names') = ''
  OR EXISTS (SELECT 1 FROM pg_stat_replication WHERE sync_state IN ('sync', 'quorum') AND state = 'streaming')) AS w`;

async function sampleRound(r: number): Promise<void> {
  const jobs: Promise<void>[] = [];
  const sample = (v: string, pod: string, value: unknown) => emit({ k: 'sample', r, v, pod, value });
  for (const [pod, conn] of pgPods) {
    // Writable means it can acknowledge a commit: a primary whose synchronous standby (if it names
    // one) streams from it. A frozen-then-thawed old primary is not in recovery for a moment, but its
    // standby follows the new leader: its commits would wait, never be acknowledged.
    jobs.push(conn.query(WRITABLE_SQL).then(
      (res) => { sample('pg-primary', pod, res.rows[0].p === true); sample('pg-writable', pod, res.rows[0].w === true); },
      () => { sample('pg-primary', pod, null); sample('pg-writable', pod, null); },
    ));
    jobs.push(httpsGetJson<{ role?: string }>(`https://${podHost('postgres', ordinal(pod), NS, DOMAIN)}:${COMPONENTS.postgres.ports.patroni}/patroni`, CA, 500)
      .then((j) => sample('patroni', pod, j.role ?? null), () => sample('patroni', pod, null)));
  }
  for (const [pod, c] of redisServers) {
    jobs.push(c.set(`chaos:writable:${RUN}:${pod}`, String(r), 'EX', 60).then(
      () => sample('redis-writable', pod, true),
      (err: Error) => sample('redis-writable', pod, /^(READONLY|NOREPLICAS|MASTERDOWN)/.test(err.message) ? false : null),
    ));
  }
  for (const [pod, s] of sentinels) {
    jobs.push((s.call('SENTINEL', 'get-master-addr-by-name', TIER.redis.masterName) as Promise<string[] | null>).then(
      (addr) => sample('sentinel', pod, addr?.[0]?.split('.')[0] ?? null), () => sample('sentinel', pod, null)));
  }
  for (const [pod, client] of etcdMembers) {
    jobs.push(client.maintenance.status().then(
      (st) => sample('etcd', pod, etcdNames.get(String(st.leader)) ?? String(st.leader)), () => sample('etcd', pod, null)));
  }
  await Promise.all(jobs);
}

async function sampler(): Promise<void> {
  for (let r = 0; !stopping; r++) {
    const started = Date.now();
    await withTimeout(sampleRound(r), 1500, 'sample round').catch(() => {});
    await sleep(Math.max(0, SAMPLE_MS - (Date.now() - started)));
  }
}

/**
 * Patroni's leader key, as etcd reports each change of it: one watch per member (a member lost with
 * the fault must not delay the event), each change emitted once, by the first watch that sees it.
 */
async function watchLeaderKey(): Promise<void> {
  const key = `${PATRONI_PREFIX}leader`;
  let last: string | null | undefined;
  const seen = (value: string | null) => { if (value !== last) { last = value; emit({ k: 'dcs', key: 'leader', value }); } };
  await Promise.all([...etcdMembers.values()].map(async (client) => {
    while (!stopping) {
      try {
        const watcher = await client.watch().key(key).create();
        seen(await client.get(key).string());
        watcher.on('put', (kv) => seen(kv.value.toString()));
        watcher.on('delete', () => seen(null));
        await new Promise<void>((resolve) => {
          watcher.on('end', resolve);
          watcher.on('error', () => resolve());
          const t = setInterval(() => { if (stopping) { clearInterval(t); void watcher.cancel(); resolve(); } }, 200);
        });
      } catch {
        await sleep(300);
      }
    }
  }));
}

/** The Sentinels' failover events, from each Sentinel's pub/sub. */
function watchSentinelEvents(): Redis[] {
  const channels = ['+sdown', '-sdown', '+odown', '-odown', '+elected-leader', '+failover-state-send-slaveof-noone', '+switch-master', '+failover-end', '+convert-to-slave'];
  return TIER.members.sentinel.pods.map((pod) => {
    const sub = new Redis({
      host: podHost('sentinel', ordinal(pod), NS, DOMAIN), port: COMPONENTS.sentinel.ports.sentinel, ...REDIS_LOGIN.monitor, tls: redisTls,
      connectTimeout: 500, retryStrategy: () => 200,
    });
    sub.on('error', () => {});
    sub.subscribe(...channels).catch(() => {});
    sub.on('message', (channel: string, message: string) => {
      // Events about the master itself (not its replicas or other sentinels), and the promotion order.
      if (channel === '+switch-master' || channel === '+failover-state-send-slaveof-noone' || message.startsWith('master ')) emit({ k: 'sentinel-event', pod, event: channel, msg: message.slice(0, 200) });
    });
    return sub;
  });
}

// ---- verification -----------------------------------------------------------------------------

async function retry<T>(what: string, fn: () => Promise<T>, seconds = 60): Promise<T> {
  const until = Date.now() + seconds * 1000;
  for (;;) {
    try {
      return await fn();
    } catch (err) {
      if (Date.now() > until) throw new Error(`${what}: ${short(err)}`);
      await sleep(500);
    }
  }
}

/** Emits every sequence number of this run that system `s` returns when read back. */
async function readBack(s: System): Promise<void> {
  try {
    let present: number[];
    if (s === 'pg') {
      present = (await retry('reading chaos_writes', () => primary.query('SELECT seq FROM chaos_writes WHERE run = $1', [RUN]), 120)).rows.map((row) => Number(row.seq));
    } else if (s === 'redis') {
      present = (await retry('reading the Redis set', () => redis.smembers(`chaos:${RUN}`), 120)).map(Number);
    } else {
      present = (await retry('reading etcd keys', () => etcd.getAll().prefix(`chaos/${RUN}/`).keys(), 120)).map((k) => Number(k.split('/').pop()));
    }
    emit({ k: 'present', s, seqs: present.sort((a, b) => a - b), complete: true });
  } catch (err) {
    emit({ k: 'present', s, seqs: [], complete: false, e: short(err) });
  }
}

async function cleanup(): Promise<void> {
  await Promise.allSettled([
    primary.query('DELETE FROM chaos_writes WHERE run = $1', [RUN]),
    redis.del(`chaos:${RUN}`),
    etcd.delete().prefix(`chaos/${RUN}/`).exec(),
  ]);
}

async function main(): Promise<void> {
  if (!values['verify-only']) {
    await retry('creating chaos_writes', () => primary.query('CREATE TABLE IF NOT EXISTS chaos_writes (run text NOT NULL, seq int NOT NULL, at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (run, seq))'), 30);
    const members = await retry('listing etcd members', () => etcd.cluster.memberList({}), 30);
    etcdNames = new Map((members.members ?? []).map((m) => [String(m.ID), m.name]));
    const subs = watchSentinelEvents();
    const workers = [...SYSTEMS.map((s) => writer(s)), watchLeaderKey(), ...(SAMPLE_MS > 0 ? [sampler()] : [])];
    // Ready once every system has acknowledged a write.
    await retry('first writes', async () => { if (SYSTEMS.some((s) => ackedCount[s] === 0)) throw new Error('waiting'); }, 60);
    emit({ k: 'ready', sampleMs: SAMPLE_MS });
    while (!existsSync(STOP_FILE) && Date.now() < DEADLINE) await sleep(100);
    stopping = true;
    await Promise.all(workers);
    for (const s of subs) s.disconnect();
  }
  for (const s of SYSTEMS) await readBack(s);
  await cleanup();
  emit({ k: 'done' });
}

main().then(
  () => process.exit(0),
  (err) => { emit({ k: 'log', msg: `probe failed: ${short(err)}` }); process.exit(1); },
);
