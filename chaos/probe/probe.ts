/**
 * The chaos probe: runs inside the cluster (pod `chaos-probe`, labelled as a client of the tier) and
 * does what an application does, through the paths an application uses:
 *   - PostgreSQL: INSERTs through the `postgres-primary` Service (pg);
 *   - Redis: SADDs through Sentinel discovery (ioredis, sentinels behind the `sentinel` Service);
 *   - etcd: PUTs across all members (etcd3).
 * Every write carries a unique sequence number. Meanwhile it samples each component's own view every
 * 250 ms: `pg_is_in_recovery()` and Patroni's role on every PostgreSQL pod, every Sentinel's master,
 * every etcd member's leader. Everything goes to stdout as JSON lines (chaos/history.ts: Event).
 * When the stop file appears (or --max-seconds pass) it stops writing, reads every acknowledged write
 * back and reports what is missing.
 *
 * Usage: node probe.cjs --id RUN [--stop-file F] [--max-seconds 300] [--interval-ms 20]
 */
import { existsSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { Etcd3 } from 'etcd3';
import { Redis } from 'ioredis';
import pg from 'pg';
import { COMPONENTS, System, TierDescriptor, podHost, serviceHost } from '../../contract/index.js';

const { values } = parseArgs({
  options: {
    id: { type: 'string' },
    'stop-file': { type: 'string' },
    'max-seconds': { type: 'string', default: '300' },
    'interval-ms': { type: 'string', default: '20' },
    systems: { type: 'string', default: 'pg,redis,etcd' },
  },
});
if (!values.id || !/^[a-z0-9-]+$/.test(values.id)) {
  console.error('probe: --id must be lowercase letters, digits and dashes');
  process.exit(2);
}
const RUN = values.id;
const STOP_FILE = values['stop-file'] ?? `/tmp/stop-${RUN}`;
const INTERVAL = Number(values['interval-ms']);
const DEADLINE = Date.now() + Number(values['max-seconds']) * 1000;
const SYSTEMS = values.systems!.split(',') as System[];

const env = (name: string, fallback?: string): string => {
  const v = process.env[name] ?? fallback;
  if (v === undefined) throw new Error(`probe: environment variable ${name} is not set`);
  return v;
};
const TIER = JSON.parse(env('HA_TIER_DESCRIPTOR')) as TierDescriptor;
const NS = TIER.namespace;
const DOMAIN = TIER.clusterDomain;
const PG_PODS = TIER.members.postgres.pods;
const ETCD_PODS = TIER.members.etcd.pods;
const SENTINEL_PODS = TIER.members.sentinel.pods;
const ordinal = (pod: string) => Number(pod.slice(pod.lastIndexOf('-') + 1));

let stopping = false;
const emit = (e: Record<string, unknown>): void => { process.stdout.write(`${JSON.stringify({ t: Date.now(), ...e })}\n`); };
const short = (err: unknown) => String((err as Error)?.message ?? err).split('\n')[0].slice(0, 120);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const withTimeout = <T>(p: Promise<T>, ms: number, what: string): Promise<T> =>
  Promise.race([p, new Promise<T>((_, reject) => setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms))]);

// ---- clients ----------------------------------------------------------------------------------

const pgConfig = (h: string): pg.ClientConfig => ({
  host: h, port: COMPONENTS.postgres.ports.postgresql, user: env('PGUSER', TIER.patroni.users.superuser), password: env('PGPASSWORD'), database: 'postgres',
  connectionTimeoutMillis: 500, query_timeout: 1500, keepAlive: true,
});

/** A PostgreSQL connection that is rebuilt after any error. */
class PgConn {
  private client?: pg.Client;
  constructor(private readonly h: string) {}
  async query(sql: string, params: unknown[] = []): Promise<pg.QueryResult> {
    if (!this.client) {
      const c = new pg.Client(pgConfig(this.h));
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
  close() { this.client?.end().catch(() => {}); this.client = undefined; }
}

const primary = new PgConn(serviceHost(COMPONENTS.postgres.services.primary, NS, DOMAIN));
const redis = new Redis({
  sentinels: [{ host: serviceHost(COMPONENTS.sentinel.services.client, NS, DOMAIN), port: COMPONENTS.sentinel.ports.sentinel }],
  name: TIER.redis.masterName,
  password: env('REDIS_PASSWORD'),
  role: 'master',
  // Longer than a graceful hand-over (writes are paused, then answered READONLY and resent).
  commandTimeout: 2000,
  connectTimeout: 1000,
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
const etcdHosts = [...TIER.etcd.clientUrls];
const etcd = new Etcd3({ hosts: etcdHosts, dialTimeout: 1000, defaultCallOptions: () => ({ deadline: Date.now() + 1000 }) });

// ---- writers ----------------------------------------------------------------------------------

const acked: Record<System, number[]> = { pg: [], redis: [], etcd: [] };
const write: Record<System, (seq: number) => Promise<unknown>> = {
  pg: (seq) => primary.query('INSERT INTO chaos_writes (run, seq) VALUES ($1, $2)', [RUN, seq]),
  redis: (seq) => redis.sadd(`chaos:${RUN}`, String(seq)),
  etcd: (seq) => etcd.put(`chaos/${RUN}/${seq}`).value(String(seq)).exec(),
};

async function writer(s: System): Promise<void> {
  for (let seq = 0; !stopping; seq++) {
    const started = Date.now();
    try {
      await withTimeout(write[s](seq), 2500, `${s} write`);
      acked[s].push(seq);
      emit({ k: 'op', s, seq, ok: true, ms: Date.now() - started });
    } catch (err) {
      emit({ k: 'op', s, seq, ok: false, ms: Date.now() - started, e: short(err) });
    }
    await sleep(Math.max(0, INTERVAL - (Date.now() - started)));
  }
}

// ---- samplers ---------------------------------------------------------------------------------

const pgPods = new Map(PG_PODS.map((p) => [p, new PgConn(podHost('postgres', ordinal(p), NS, DOMAIN))]));
const sentinels = new Map(SENTINEL_PODS.map((pod) => [pod, new Redis({
  host: podHost('sentinel', ordinal(pod), NS, DOMAIN), port: COMPONENTS.sentinel.ports.sentinel, commandTimeout: 500, connectTimeout: 500,
  maxRetriesPerRequest: 0, enableOfflineQueue: false, retryStrategy: () => 200, lazyConnect: false,
})] as const));
for (const s of sentinels.values()) s.on('error', () => {});
const etcdMembers = new Map(ETCD_PODS.map((p, i) => [p, new Etcd3({ hosts: etcdHosts[i], dialTimeout: 500, defaultCallOptions: () => ({ deadline: Date.now() + 500 }) })]));
let etcdNames = new Map<string, string>();

async function sampleRound(r: number): Promise<void> {
  const jobs: Promise<void>[] = [];
  for (const [pod, conn] of pgPods) {
    jobs.push(conn.query('SELECT pg_is_in_recovery() AS r').then(
      (res) => emit({ k: 'sample', r, v: 'pg-writable', pod, value: res.rows[0].r === false }),
      () => emit({ k: 'sample', r, v: 'pg-writable', pod, value: null }),
    ));
    jobs.push(fetch(`http://${podHost('postgres', ordinal(pod), NS, DOMAIN)}:${COMPONENTS.postgres.ports.patroni}/patroni`, { signal: AbortSignal.timeout(500) })
      .then((res) => res.json() as Promise<{ role?: string }>)
      .then((j) => emit({ k: 'sample', r, v: 'patroni', pod, value: j.role ?? null }), () => emit({ k: 'sample', r, v: 'patroni', pod, value: null })));
  }
  for (const [pod, s] of sentinels) {
    jobs.push((s.call('SENTINEL', 'get-master-addr-by-name', TIER.redis.masterName) as Promise<string[] | null>).then(
      (addr) => emit({ k: 'sample', r, v: 'sentinel', pod, value: addr?.[0]?.split('.')[0] ?? null }),
      () => emit({ k: 'sample', r, v: 'sentinel', pod, value: null }),
    ));
  }
  for (const [pod, client] of etcdMembers) {
    jobs.push(client.maintenance.status().then(
      (st) => emit({ k: 'sample', r, v: 'etcd', pod, value: etcdNames.get(String(st.leader)) ?? String(st.leader) }),
      () => emit({ k: 'sample', r, v: 'etcd', pod, value: null }),
    ));
  }
  await Promise.all(jobs);
}

async function sampler(): Promise<void> {
  for (let r = 0; !stopping; r++) {
    const started = Date.now();
    await withTimeout(sampleRound(r), 1500, 'sample round').catch(() => {});
    await sleep(Math.max(0, 250 - (Date.now() - started)));
  }
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

async function verify(s: System): Promise<void> {
  try {
    let present: number[];
    if (s === 'pg') {
      const res = await retry('reading chaos_writes', () => primary.query('SELECT seq FROM chaos_writes WHERE run = $1', [RUN]));
      present = res.rows.map((row) => Number(row.seq));
    } else if (s === 'redis') {
      present = (await retry('reading the Redis set', () => redis.smembers(`chaos:${RUN}`))).map(Number);
    } else {
      const keys = await retry('reading etcd keys', () => etcd.getAll().prefix(`chaos/${RUN}/`).keys());
      present = keys.map((k) => Number(k.split('/').pop()));
    }
    const have = new Set(present);
    emit({ k: 'verify', s, acked: acked[s].length, missing: acked[s].filter((q) => !have.has(q)), complete: true });
  } catch (err) {
    emit({ k: 'verify', s, acked: acked[s].length, missing: [], complete: false, e: short(err) });
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
  await retry('creating chaos_writes', () => primary.query('CREATE TABLE IF NOT EXISTS chaos_writes (run text NOT NULL, seq int NOT NULL, at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (run, seq))'), 30);
  const members = await retry('listing etcd members', () => etcd.cluster.memberList({}), 30);
  etcdNames = new Map((members.members ?? []).map((m) => [String(m.ID), m.name]));
  const workers = [...SYSTEMS.map((s) => writer(s)), sampler()];
  // Ready once every system has acknowledged a write.
  await retry('first writes', async () => { if (SYSTEMS.some((s) => acked[s].length === 0)) throw new Error('waiting'); }, 60);
  emit({ k: 'ready' });
  while (!existsSync(STOP_FILE) && Date.now() < DEADLINE) await sleep(100);
  stopping = true;
  await Promise.all(workers);
  for (const s of SYSTEMS) await verify(s);
  await cleanup();
  emit({ k: 'done' });
}

main().then(
  () => process.exit(0),
  (err) => { emit({ k: 'log', msg: `probe failed: ${short(err)}` }); process.exit(1); },
);
