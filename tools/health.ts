/**
 * The tier's health as its components see it, read through the Kubernetes API (exec into the pods):
 * etcd's members and leader, Patroni's cluster view, every Sentinel's view of the master, the
 * -primary Service's endpoint, and a real write through each client path.
 */
import type * as k8s from '@kubernetes/client-node';
import { Kube, execIn, isReady, listPods } from './kube.js';

const LABEL_ROLE = 'ha-tier.dev/role';
const selector = (name: string) => ({ 'app.kubernetes.io/name': name, 'app.kubernetes.io/instance': 'ha-tier' });

export interface Row {
  component: 'etcd' | 'postgres' | 'redis' | 'sentinel';
  pod: string;
  role: string;
  state: string;
  lag: string;
  ready: boolean;
}

export interface Check {
  name: string;
  ok: boolean;
  detail: string;
}

export interface TierHealth {
  healthy: boolean;
  rows: Row[];
  checks: Check[];
  /** Facts the chaos runner and tests use. */
  facts: {
    etcdLeader?: string;
    patroniLeader?: string;
    redisMaster?: string;
    expected: { etcd: number; postgres: number; redis: number; sentinel: number };
  };
}

interface Pods { etcd: k8s.V1Pod[]; postgres: k8s.V1Pod[]; redis: k8s.V1Pod[]; sentinel: k8s.V1Pod[] }

const podName = (p: k8s.V1Pod) => p.metadata?.name ?? '?';
const firstReady = (pods: k8s.V1Pod[]) => pods.find(isReady);

/** Shell snippet prefix exporting the Redis password from the pod's own env, never on argv. */
const REDIS_AUTH = 'export REDISCLI_AUTH="$REDIS_PASSWORD";';

async function sh(kube: Kube, ns: string, pod: string, container: string, script: string, timeoutMs = 15_000) {
  return execIn(kube, ns, pod, container, ['sh', '-c', script], timeoutMs);
}

async function expectedReplicas(kube: Kube, ns: string): Promise<TierHealth['facts']['expected']> {
  const out = { etcd: 0, postgres: 0, redis: 0, sentinel: 0 };
  for (const name of Object.keys(out) as (keyof typeof out)[]) {
    try {
      const s = await kube.apps.readNamespacedStatefulSet({ name, namespace: ns });
      out[name] = s.spec?.replicas ?? 0;
    } catch {
      out[name] = 0;
    }
  }
  return out;
}

async function etcdView(kube: Kube, ns: string, pods: k8s.V1Pod[], expected: number, checks: Check[]): Promise<{ rows: Row[]; leader?: string }> {
  const rows: Row[] = pods.map((p) => ({ component: 'etcd', pod: podName(p), role: '?', state: isReady(p) ? 'ready' : 'not ready', lag: '-', ready: isReady(p) }));
  const probe = firstReady(pods);
  if (!probe) {
    checks.push({ name: 'etcd', ok: false, detail: 'no etcd member is Ready' });
    return { rows };
  }
  const res = await sh(kube, ns, podName(probe), 'etcd',
    'etcdctl member list -w json && echo "<<>>" && etcdctl --endpoints="$(etcdctl member list | awk -F", " \'{print $5}\' | paste -sd,)" endpoint status -w json --command-timeout=3s');
  const [membersJson, statusJson] = res.stdout.split('<<>>');
  let leader: string | undefined;
  try {
    const members = (JSON.parse(membersJson).members ?? []) as { ID: number; name: string; clientURLs?: string[] }[];
    const status = (JSON.parse(statusJson || '[]') as { Endpoint: string; Status: { header: { member_id: number }; leader: number; raftIndex: number } }[]);
    const byId = new Map(members.map((m) => [String(m.ID), m.name]));
    const maxIndex = Math.max(0, ...status.map((s) => s.Status.raftIndex));
    const leaders = new Set(status.map((s) => String(s.Status.leader)));
    leader = leaders.size === 1 ? byId.get([...leaders][0]) : undefined;
    for (const row of rows) {
      const st = status.find((s) => byId.get(String(s.Status.header.member_id)) === row.pod);
      const member = members.find((m) => m.name === row.pod);
      row.role = !member ? 'not a member' : st ? (row.pod === leader ? 'leader' : 'follower') : 'unreachable';
      row.state = `${member?.clientURLs?.length ? 'started' : 'unstarted'}${row.ready ? '' : ', not ready'}`;
      row.lag = st ? `${maxIndex - st.Status.raftIndex} entries` : '-';
    }
    const started = members.filter((m) => m.clientURLs?.length).length;
    checks.push({
      name: 'etcd',
      ok: started === expected && members.length === expected && !!leader && status.length === expected,
      detail: `${started}/${expected} members started, ${status.length} answering, leader ${leader ?? 'none agreed'}`,
    });
  } catch {
    checks.push({ name: 'etcd', ok: false, detail: `could not read etcd's view: ${(res.stderr || res.stdout).trim().slice(0, 200)}` });
  }
  return { rows, leader };
}

interface PatroniMember { name: string; role: string; state: string; host?: string; lag?: number | string; timeline?: number }

async function patroniView(kube: Kube, ns: string, pods: k8s.V1Pod[], expected: number, checks: Check[]): Promise<{ rows: Row[]; leader?: string }> {
  const rows: Row[] = pods.map((p) => ({ component: 'postgres', pod: podName(p), role: p.metadata?.labels?.[LABEL_ROLE] ?? 'unlabelled', state: isReady(p) ? 'ready' : 'not ready', lag: '-', ready: isReady(p) }));
  const probe = firstReady(pods) ?? pods.find((p) => p.status?.phase === 'Running');
  if (!probe) {
    checks.push({ name: 'patroni', ok: false, detail: 'no Patroni member is running' });
    return { rows };
  }
  const res = await sh(kube, ns, podName(probe), 'patroni',
    'curl -s --max-time 3 http://127.0.0.1:8008/cluster; echo "<<>>"; curl -s --max-time 3 http://127.0.0.1:8008/config');
  let leader: string | undefined;
  try {
    const [clusterJson, configJson] = res.stdout.split('<<>>');
    const members = (JSON.parse(clusterJson).members ?? []) as PatroniMember[];
    const syncMode = (JSON.parse(configJson) as { synchronous_mode?: boolean }).synchronous_mode === true;
    const syncStandbys = members.filter((m) => m.role === 'sync_standby').length;
    const leaders = members.filter((m) => m.role === 'leader' || m.role === 'master');
    leader = leaders.length === 1 ? leaders[0].name : undefined;
    // A replica counts only on the leader's timeline: one left on an older timeline (it needs a
    // rewind or has not yet followed the last promotion) could not take over cleanly.
    const leaderTimeline = leaders[0]?.timeline;
    let replicasOk = 0;
    for (const row of rows) {
      const m = members.find((x) => x.name === row.pod);
      if (!m) { row.state = 'not in cluster'; continue; }
      const label = row.role;
      row.role = m.role === 'master' ? 'leader' : m.role;
      row.state = `${m.state}${row.ready ? '' : ', not ready'}${label !== (row.role === 'leader' ? 'primary' : 'replica') ? `, label ${label}` : ''}`;
      row.lag = m.lag === undefined ? '-' : typeof m.lag === 'number' ? `${m.lag} B` : String(m.lag);
      const lagOk = typeof m.lag === 'number' && m.lag <= 1024 * 1024;
      const sameTimeline = m.timeline !== undefined && m.timeline === leaderTimeline;
      if (row.role !== 'leader' && !sameTimeline) row.state += `, timeline ${m.timeline ?? '?'} (leader ${leaderTimeline ?? '?'})`;
      if (row.role !== 'leader' && ['streaming', 'running'].includes(m.state) && lagOk && sameTimeline && row.ready) replicasOk++;
    }
    const leaderRow = rows.find((r) => r.pod === leader);
    const labelled = pods.find((p) => p.metadata?.name === leader)?.metadata?.labels?.[LABEL_ROLE] === 'primary';
    const syncOk = !syncMode || expected < 2 || syncStandbys === 1;
    checks.push({
      name: 'patroni',
      ok: !!leader && replicasOk === expected - 1 && !!leaderRow?.ready && labelled && syncOk,
      detail: `leader ${leader ?? 'none'}${labelled ? '' : ' (not labelled primary)'}, ${replicasOk}/${expected - 1} replicas running on its timeline with lag ≤ 1 MiB` +
        (syncMode ? `, ${syncStandbys} sync standby` : ', asynchronous'),
    });
  } catch {
    checks.push({ name: 'patroni', ok: false, detail: `could not read Patroni's view: ${(res.stderr || res.stdout).trim().slice(0, 200)}` });
  }
  return { rows, leader };
}

async function primaryEndpointCheck(kube: Kube, ns: string, leader: string | undefined, pods: k8s.V1Pod[], checks: Check[]) {
  const ep = await kube.core.readNamespacedEndpoints({ name: 'postgres-primary', namespace: ns }).catch(() => undefined);
  const targets = (ep?.subsets ?? []).flatMap((s) => s.addresses ?? []).map((a) => a.targetRef?.name ?? a.ip);
  const leaderIp = pods.find((p) => podName(p) === leader)?.status?.podIP;
  const ok = !!leader && targets.length === 1 && targets[0] === leader;
  checks.push({ name: 'postgres-primary endpoint', ok, detail: `endpoints [${targets.join(', ')}], Patroni leader ${leader ?? 'none'} (${leaderIp ?? 'no IP'})` });
}

async function postgresWriteCheck(kube: Kube, ns: string, leader: string | undefined, pods: k8s.V1Pod[], checks: Check[]) {
  const replica = pods.find((p) => podName(p) !== leader && isReady(p));
  const writer = replica ?? pods.find(isReady);
  if (!writer || !leader) {
    checks.push({ name: 'postgres write', ok: false, detail: 'no pod to write from' });
    return;
  }
  const token = `health-${Date.now()}`;
  const write = await sh(kube, ns, podName(writer), 'patroni',
    `PGPASSWORD="$PATRONI_SUPERUSER_PASSWORD" PGCONNECT_TIMEOUT=3 psql -qtAX "host=postgres-primary.${ns}.svc port=5432 user=\${PATRONI_SUPERUSER_USERNAME:-postgres} dbname=postgres" ` +
      `-c "CREATE TABLE IF NOT EXISTS ha_tier_health (id int PRIMARY KEY, token text, at timestamptz DEFAULT now())" ` +
      `-c "INSERT INTO ha_tier_health (id, token) VALUES (1, '${token}') ON CONFLICT (id) DO UPDATE SET token = EXCLUDED.token, at = now()" -c "SELECT pg_current_wal_lsn()"`);
  if (!write.ok) {
    checks.push({ name: 'postgres write', ok: false, detail: `write through postgres-primary failed: ${write.stderr.trim().slice(0, 200)}` });
    return;
  }
  if (!replica) {
    checks.push({ name: 'postgres write', ok: true, detail: 'written through postgres-primary (no replica to read from)' });
    return;
  }
  let seen = '';
  for (let i = 0; i < 20 && seen !== token; i++) {
    const read = await sh(kube, ns, podName(replica), 'patroni', `psql -qtAX -h /run/postgresql -U \${PATRONI_SUPERUSER_USERNAME:-postgres} -d postgres -c "SELECT token FROM ha_tier_health WHERE id = 1"`);
    seen = read.stdout.trim();
    if (seen !== token) await new Promise((r) => setTimeout(r, 250));
  }
  checks.push({ name: 'postgres write', ok: seen === token, detail: `written through postgres-primary, ${seen === token ? 'read back' : 'NOT found'} on replica ${podName(replica)}` });
}

async function redisView(kube: Kube, ns: string, redisPods: k8s.V1Pod[], sentinelPods: k8s.V1Pod[], expected: TierHealth['facts']['expected'], checks: Check[]): Promise<{ rows: Row[]; master?: string }> {
  const rows: Row[] = [];
  const masters = new Map<string, string>();
  for (const p of sentinelPods) {
    const row: Row = { component: 'sentinel', pod: podName(p), role: 'sentinel', state: isReady(p) ? 'ready' : 'not ready', lag: '-', ready: isReady(p) };
    rows.push(row);
    if (p.status?.phase !== 'Running') continue;
    const res = await sh(kube, ns, podName(p), 'sentinel',
      'redis-cli -p "${SENTINEL_PORT:-26379}" --raw SENTINEL get-master-addr-by-name "$REDIS_MASTER_NAME"; echo "<<>>"; ' +
      'redis-cli -p "${SENTINEL_PORT:-26379}" --raw SENTINEL master "$REDIS_MASTER_NAME"; echo "<<>>"; ' +
      'redis-cli -p "${SENTINEL_PORT:-26379}" --raw SENTINEL replicas "$REDIS_MASTER_NAME"');
    const [addr, info, replicasRaw = ''] = res.stdout.split('<<>>');
    // Replicas this sentinel can really use: flags exactly "slave" and the replica's link to the master up.
    const replicaFields = replicasRaw.trim().split('\n');
    let usable = 0;
    for (let i = 0; i < replicaFields.length; i++) {
      if (replicaFields[i] !== 'name') continue;
      const rec: Record<string, string> = {};
      for (let j = i; j < replicaFields.length - 1 && (j === i || replicaFields[j] !== 'name'); j += 2) rec[replicaFields[j]] = replicaFields[j + 1];
      if (rec.flags === 'slave' && rec['master-link-status'] === 'ok') usable++;
    }
    const host = addr.trim().split('\n')[0];
    const fields = info.trim().split('\n');
    const get = (k: string) => { const i = fields.indexOf(k); return i >= 0 ? fields[i + 1] : undefined; };
    if (host) masters.set(row.pod, host);
    row.state = `master ${host ? host.split('.')[0] : '?'}, ${usable}/${get('num-slaves') ?? '?'} replicas usable, ${Number(get('num-other-sentinels') ?? -1) + 1} sentinels, flags ${get('flags') ?? '?'}${row.ready ? '' : ', not ready'}`;
    const ok = host && usable === expected.redis - 1 && Number(get('num-slaves')) === expected.redis - 1 &&
      Number(get('num-other-sentinels')) === expected.sentinel - 1 && get('flags') === 'master';
    if (!ok) row.state += ' (!)';
  }
  const agreed = new Set(masters.values());
  const master = agreed.size === 1 && masters.size === expected.sentinel ? [...agreed][0] : undefined;
  const masterPod = master?.split('.')[0];

  let linksUp = 0;
  for (const p of redisPods) {
    const row: Row = { component: 'redis', pod: podName(p), role: '?', state: isReady(p) ? 'ready' : 'not ready', lag: '-', ready: isReady(p) };
    rows.push(row);
    if (p.status?.phase !== 'Running') continue;
    const res = await sh(kube, ns, podName(p), 'redis', `${REDIS_AUTH} redis-cli --no-auth-warning -p "$REDIS_PORT" INFO replication`);
    const info = Object.fromEntries(res.stdout.split(/\r?\n/).filter((l) => l.includes(':')).map((l) => l.split(/:(.*)/s).slice(0, 2)));
    row.role = info.role === 'slave' ? 'replica' : info.role ?? '?';
    if (row.role === 'replica') {
      row.state = `link ${info.master_link_status}${row.ready ? '' : ', not ready'}`;
      row.lag = info.master_link_status === 'up' ? `${Math.max(0, Number(info.master_repl_offset ?? 0) - Number(info.slave_repl_offset ?? 0))} B` : '-';
      if (info.master_link_status === 'up' && info.master_host === master) linksUp++;
    } else if (row.role === 'master') {
      row.state = `${info.connected_slaves} replicas connected${row.ready ? '' : ', not ready'}`;
    }
  }
  const sentinelsOk = rows.filter((r) => r.component === 'sentinel').every((r) => !r.state.endsWith('(!)') && r.ready);
  checks.push({
    name: 'sentinel',
    ok: !!master && sentinelsOk,
    detail: master ? `all ${masters.size} sentinels agree: master ${masterPod}` : `sentinels disagree or are missing: ${[...masters.entries()].map(([s, m]) => `${s}→${m.split('.')[0]}`).join(', ') || 'none answered'}`,
  });
  const masterRow = rows.find((r) => r.component === 'redis' && r.pod === masterPod);
  checks.push({
    name: 'redis',
    ok: masterRow?.role === 'master' && !!masterRow.ready && linksUp === expected.redis - 1,
    detail: `master ${masterPod ?? 'unknown'} ${masterRow?.role === 'master' ? 'is master' : 'does NOT report master'}, ${linksUp}/${expected.redis - 1} replicas linked to it`,
  });
  return { rows, master: masterPod };
}

async function redisWriteCheck(kube: Kube, ns: string, sentinelPods: k8s.V1Pod[], redisPods: k8s.V1Pod[], master: string | undefined, checks: Check[]) {
  const sentinel = firstReady(sentinelPods);
  if (!sentinel || !master) {
    checks.push({ name: 'redis write', ok: false, detail: 'no agreed master to write to' });
    return;
  }
  const replica = redisPods.find((p) => podName(p) !== master && isReady(p));
  const token = `health-${Date.now()}`;
  // Discovery as a client does it: ask Sentinel for the master, then write there.
  const res = await sh(kube, ns, podName(sentinel), 'sentinel',
    `${REDIS_AUTH} m=$(redis-cli -p "$SENTINEL_PORT" --raw SENTINEL get-master-addr-by-name "$REDIS_MASTER_NAME" | head -1); ` +
      `redis-cli --no-auth-warning -h "$m" -p "$REDIS_PORT" SET ha-tier:health ${token} >/dev/null && ` +
      `redis-cli --no-auth-warning -h "$m" -p "$REDIS_PORT" WAIT ${replica ? 1 : 0} 2000`);
  if (!res.ok) {
    checks.push({ name: 'redis write', ok: false, detail: `SET through Sentinel discovery failed: ${res.stderr.trim().slice(0, 200)}` });
    return;
  }
  if (!replica) {
    checks.push({ name: 'redis write', ok: true, detail: 'SET through Sentinel discovery (no replica to read from)' });
    return;
  }
  const read = await sh(kube, ns, podName(replica), 'redis', `${REDIS_AUTH} redis-cli --no-auth-warning -p "$REDIS_PORT" GET ha-tier:health`);
  checks.push({ name: 'redis write', ok: read.stdout.trim() === token, detail: `SET through Sentinel discovery, ${read.stdout.trim() === token ? 'read back' : 'NOT found'} on replica ${podName(replica)}` });
}

/** Reads the whole tier's health. `writes: false` skips the functional write checks. */
export async function tierHealth(kube: Kube, ns: string, opts: { writes?: boolean } = {}): Promise<TierHealth> {
  const expected = await expectedReplicas(kube, ns);
  const pods: Pods = {
    etcd: await listPods(kube, ns, selector('etcd')),
    postgres: await listPods(kube, ns, selector('postgres')),
    redis: await listPods(kube, ns, selector('redis')),
    sentinel: await listPods(kube, ns, selector('sentinel')),
  };
  const checks: Check[] = [];
  const guard = async <T>(name: string, fn: () => Promise<T>, fallback: T): Promise<T> => {
    try {
      return await fn();
    } catch (err) {
      checks.push({ name, ok: false, detail: (err as Error).message.slice(0, 200) });
      return fallback;
    }
  };
  const etcd = await guard('etcd', () => etcdView(kube, ns, pods.etcd, expected.etcd, checks), { rows: [] as Row[], leader: undefined });
  const pg = await guard('patroni', () => patroniView(kube, ns, pods.postgres, expected.postgres, checks), { rows: [] as Row[], leader: undefined });
  await guard('postgres-primary endpoint', () => primaryEndpointCheck(kube, ns, pg.leader, pods.postgres, checks), undefined);
  const redis = await guard('sentinel', () => redisView(kube, ns, pods.redis, pods.sentinel, expected, checks), { rows: [] as Row[], master: undefined });
  if (opts.writes ?? true) {
    await guard('postgres write', () => postgresWriteCheck(kube, ns, pg.leader, pods.postgres, checks), undefined);
    await guard('redis write', () => redisWriteCheck(kube, ns, pods.sentinel, pods.redis, redis.master, checks), undefined);
  }
  const rows = [...etcd.rows, ...pg.rows, ...redis.rows];
  const allPods = expected.etcd + expected.postgres + expected.redis + expected.sentinel;
  const readyPods = rows.filter((r) => r.ready).length;
  checks.unshift({ name: 'pods', ok: allPods > 0 && readyPods === allPods && rows.length === allPods, detail: `${readyPods}/${allPods} pods Ready` });
  return {
    healthy: checks.every((c) => c.ok),
    rows,
    checks,
    facts: { etcdLeader: etcd.leader, patroniLeader: pg.leader, redisMaster: redis.master, expected },
  };
}

/** The health as a compact table plus one line per check. */
export function formatHealth(h: TierHealth): string {
  const header: (keyof Row)[] = ['component', 'pod', 'role', 'state', 'lag'];
  const cells = [header.map((k) => k.toUpperCase()), ...h.rows.map((r) => header.map((k) => String(r[k])))];
  const widths = header.map((_, i) => Math.max(...cells.map((c) => c[i].length)));
  const table = cells.map((c) => c.map((v, i) => v.padEnd(widths[i])).join('  ').trimEnd());
  const checks = h.checks.map((c) => `${c.ok ? 'ok  ' : 'FAIL'} ${c.name}: ${c.detail}`);
  return [...table, '', ...checks, '', h.healthy ? 'tier: healthy' : 'tier: UNHEALTHY'].join('\n');
}
