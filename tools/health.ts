/**
 * The tier's health as its components see it, read through the Kubernetes API: etcd's members and
 * leader, Patroni's cluster, every Sentinel's view of the master, the routed Services' endpoints, the
 * Redis servers' data lineage, and a real write through each client path.
 *
 * Views come from the components' own tools, run in their pods with an argument list (no shell
 * programs): etcdctl, Patroni's REST API through patroni-rest, redis-json, and the images' status and
 * check scripts (images/*), which answer in JSON. Names come from the tier's descriptor.
 */
import type * as k8s from '@kubernetes/client-node';
import {
  COMPONENTS, ComponentKey, MemberComponent, ROUTED_SLICES, TierDescriptor, selectorOf, serviceHost,
} from '../contract/index.js';
import { Kube, execIn, isReady, listPods } from './kube.js';
import { lineageProblems, parsePosition } from './redis-lineage.js';

export interface Row {
  component: ComponentKey;
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
    /** Pods the routed Services list. */
    primaryEndpoints: string[];
    replicaEndpoints: string[];
  };
}

const podName = (p: k8s.V1Pod) => p.metadata?.name ?? '?';
const firstReady = (pods: k8s.V1Pod[]) => pods.find(isReady);
const running = (p: k8s.V1Pod) => p.status?.phase === 'Running' && !p.metadata?.deletionTimestamp;
const baseRow = (component: ComponentKey, p: k8s.V1Pod): Row =>
  ({ component, pod: podName(p), role: '?', state: isReady(p) ? 'ready' : 'not ready', lag: '-', ready: isReady(p) });

/** Runs `argv` in a pod and parses its stdout as JSON; throws with the pod's words when it cannot. */
async function execJson<T>(kube: Kube, ns: string, pod: string, component: MemberComponent, argv: string[], timeoutMs = 15_000): Promise<T> {
  const res = await execIn(kube, ns, pod, COMPONENTS[component].container, argv, timeoutMs);
  try {
    return JSON.parse(res.stdout) as T;
  } catch {
    throw new Error(`${argv[0]} in ${pod}: ${(res.stderr || res.stdout).trim().slice(0, 200) || 'no answer'}`);
  }
}

async function etcdView(kube: Kube, tier: TierDescriptor, pods: k8s.V1Pod[], checks: Check[]): Promise<{ rows: Row[]; leader?: string }> {
  const ns = tier.namespace;
  const expected = tier.members.etcd.replicas;
  const rows = pods.map((p) => baseRow('etcd', p));
  const probe = firstReady(pods);
  if (!probe) {
    checks.push({ name: 'etcd', ok: false, detail: 'no etcd member is Ready' });
    return { rows };
  }
  // --hex keeps the 64-bit member IDs exact (as JSON numbers they would be rounded).
  const list = await execJson<{ members?: { ID: string; name: string; clientURLs?: string[] }[] }>(kube, ns, podName(probe), 'etcd',
    ['etcdctl', 'member', 'list', '-w', 'json', '--hex']);
  const status = await execJson<{ Endpoint: string; Status: { header: { member_id: string }; leader: string; raftIndex: number } }[]>(
    kube, ns, podName(probe), 'etcd',
    // etcdctl refuses a flag that shadows its environment: the pod's ETCDCTL_ENDPOINTS (its own member) goes.
    ['env', '-u', 'ETCDCTL_ENDPOINTS', 'etcdctl', `--endpoints=${tier.etcd.clientUrls.join(',')}`, 'endpoint', 'status', '-w', 'json', '--hex', '--command-timeout=3s'],
  ).catch(() => []);
  const members = list.members ?? [];
  const byId = new Map(members.map((m) => [String(m.ID), m.name]));
  const maxIndex = Math.max(0, ...status.map((s) => s.Status.raftIndex));
  const leaders = new Set(status.map((s) => String(s.Status.leader)));
  const leader = leaders.size === 1 ? byId.get([...leaders][0]) : undefined;
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
  return { rows, leader };
}

interface PatroniMember { name: string; role: string; state: string; host?: string; lag?: number | string; timeline?: number }

async function patroniView(kube: Kube, tier: TierDescriptor, pods: k8s.V1Pod[], checks: Check[]): Promise<{ rows: Row[]; leader?: string; members: PatroniMember[] }> {
  const ns = tier.namespace;
  const expected = tier.members.postgres.replicas;
  const rows = pods.map((p) => baseRow('postgres', p));
  const probe = firstReady(pods) ?? pods.find(running);
  if (!probe) {
    checks.push({ name: 'patroni', ok: false, detail: 'no Patroni member is running' });
    return { rows, members: [] };
  }
  // patroni-rest (images/patroni): the member's own REST API over HTTPS, verified against the tier's CA.
  const cluster = await execJson<{ members?: PatroniMember[] }>(kube, ns, podName(probe), 'postgres', ['patroni-rest', 'GET', '/cluster']);
  const config = await execJson<{ synchronous_mode?: boolean }>(kube, ns, podName(probe), 'postgres', ['patroni-rest', 'GET', '/config']);
  const members = cluster.members ?? [];
  const syncMode = config.synchronous_mode === true;
  const syncStandbys = members.filter((m) => m.role === 'sync_standby').length;
  const leaders = members.filter((m) => m.role === 'leader');
  const leader = leaders.length === 1 ? leaders[0].name : undefined;
  // A replica counts only on the leader's timeline: one left on an older timeline (it needs a rewind
  // or has not yet followed the last promotion) could not take over cleanly.
  const leaderTimeline = leaders[0]?.timeline;
  let replicasOk = 0;
  for (const row of rows) {
    const m = members.find((x) => x.name === row.pod);
    if (!m) { row.state = 'not in cluster'; continue; }
    row.role = m.role;
    row.state = `${m.state}${row.ready ? '' : ', not ready'}`;
    row.lag = m.lag === undefined ? '-' : typeof m.lag === 'number' ? `${m.lag} B` : String(m.lag);
    const lagOk = typeof m.lag === 'number' && m.lag <= 1024 * 1024;
    const sameTimeline = m.timeline !== undefined && m.timeline === leaderTimeline;
    if (row.role !== 'leader' && !sameTimeline) row.state += `, timeline ${m.timeline ?? '?'} (leader ${leaderTimeline ?? '?'})`;
    if (row.role !== 'leader' && ['streaming', 'running'].includes(m.state) && lagOk && sameTimeline && row.ready) replicasOk++;
  }
  const leaderReady = !!rows.find((r) => r.pod === leader)?.ready;
  const syncOk = !syncMode || expected < 2 || syncStandbys === 1;
  // The cluster view comes from the DCS, which keeps a leader's key (and its last member data) until
  // its ttl runs out even when it has stopped serving: ask the leader itself too.
  const own = leader && leaderReady
    ? await execJson<{ state?: string; role?: string }>(kube, ns, leader, 'postgres', ['patroni-rest', 'GET', '/patroni']).catch(() => ({} as { state?: string; role?: string }))
    : {};
  const serving = own.state === 'running' && own.role === 'primary';
  checks.push({
    name: 'patroni',
    ok: !!leader && serving && replicasOk === expected - 1 && leaderReady && syncOk,
    detail: `leader ${leader ?? 'none'}${leader && !serving ? ` (says it is ${own.role ?? '?'}, ${own.state ?? 'not answering'})` : ''}, ` +
      `${replicasOk}/${expected - 1} replicas running on its timeline with lag ≤ 1 MiB` + (syncMode ? `, ${syncStandbys} sync standby` : ', asynchronous'),
  });
  return { rows, leader, members };
}

/** The pods an EndpointSlice routes to. */
async function slicePods(kube: Kube, ns: string, name: string): Promise<string[]> {
  const slice = await kube.discovery.readNamespacedEndpointSlice({ name, namespace: ns });
  return (slice.endpoints ?? []).map((e) => e.targetRef?.name ?? e.addresses.join(',')).sort();
}

async function routingChecks(kube: Kube, tier: TierDescriptor, leader: string | undefined, members: PatroniMember[], routers: k8s.V1Pod[], rows: Row[], checks: Check[]) {
  const ns = tier.namespace;
  const primary = await slicePods(kube, ns, ROUTED_SLICES.primary);
  const replicas = await slicePods(kube, ns, ROUTED_SLICES.replicas);
  const streaming = members.filter((m) => m.name !== leader && m.state === 'streaming').map((m) => m.name).sort();
  checks.push({
    name: `${COMPONENTS.postgres.services.primary} endpoint`,
    ok: !!leader && primary.length === 1 && primary[0] === leader,
    detail: `routes to [${primary.join(', ')}], Patroni leader ${leader ?? 'none'}`,
  });
  checks.push({
    name: `${COMPONENTS.postgres.services.replicas} endpoints`,
    ok: replicas.join() === streaming.join(),
    detail: `route to [${replicas.join(', ')}], streaming replicas [${streaming.join(', ')}]`,
  });
  const ready = routers.filter(isReady).length;
  for (const p of routers) rows.push({ ...baseRow('router', p), role: 'router', state: isReady(p) ? 'reads etcd' : 'not ready' });
  checks.push({ name: 'router', ok: ready === tier.routerReplicas, detail: `${ready}/${tier.routerReplicas} routers ready` });
  return { primary, replicas };
}

async function postgresWriteCheck(kube: Kube, tier: TierDescriptor, leader: string | undefined, pods: k8s.V1Pod[], checks: Check[]) {
  const ns = tier.namespace;
  const replica = pods.find((p) => podName(p) !== leader && isReady(p));
  const writer = replica ?? pods.find(isReady);
  if (!writer || !leader) {
    checks.push({ name: 'postgres write', ok: false, detail: 'no pod to write from' });
    return;
  }
  const token = `health-${Date.now()}`;
  const host = serviceHost(COMPONENTS.postgres.services.primary, ns, tier.clusterDomain);
  const write = await execJson<{ ok: boolean; error?: string }>(kube, ns, podName(writer), 'postgres', ['pg-check', 'write', host, token]);
  if (!write.ok) {
    checks.push({ name: 'postgres write', ok: false, detail: `write through ${COMPONENTS.postgres.services.primary} failed: ${write.error ?? '?'}` });
    return;
  }
  if (!replica) {
    checks.push({ name: 'postgres write', ok: true, detail: `written through ${COMPONENTS.postgres.services.primary} (no replica to read from)` });
    return;
  }
  let found = false;
  for (let i = 0; i < 20 && !found; i++) {
    found = (await execJson<{ ok: boolean }>(kube, ns, podName(replica), 'postgres', ['pg-check', 'read', token])).ok;
    if (!found) await new Promise((r) => setTimeout(r, 250));
  }
  checks.push({ name: 'postgres write', ok: found, detail: `written through ${COMPONENTS.postgres.services.primary} as the application (TLS), ${found ? 'read back' : 'NOT found'} on replica ${podName(replica)}` });
}

interface SentinelMaster { flags?: string; 'num-slaves'?: string; 'num-other-sentinels'?: string }
interface SentinelReplica { name?: string; flags?: string; 'master-link-status'?: string }
interface RedisStatus { info: Record<string, string>; position: string; startPosition: string }

async function redisView(kube: Kube, tier: TierDescriptor, redisPods: k8s.V1Pod[], sentinelPods: k8s.V1Pod[], checks: Check[]): Promise<{ rows: Row[]; master?: string }> {
  const ns = tier.namespace;
  const want = { redis: tier.members.redis.replicas, sentinel: tier.members.sentinel.replicas };
  const name = tier.redis.masterName;
  // redis-json (images/redis): the sentinel's own view over TLS, as its read-only monitor user.
  const sentinelCli = (pod: string, ...args: string[]) =>
    execJson<unknown>(kube, ns, pod, 'sentinel', ['redis-json', 'sentinel', 'SENTINEL', ...args]);
  const rows: Row[] = [];
  const masters = new Map<string, string>();
  for (const p of sentinelPods) {
    const row: Row = { ...baseRow('sentinel', p), role: 'sentinel' };
    rows.push(row);
    if (!running(p)) continue;
    const addr = (await sentinelCli(row.pod, 'get-master-addr-by-name', name).catch(() => null)) as string[] | null;
    const master = (await sentinelCli(row.pod, 'master', name).catch(() => ({}))) as SentinelMaster;
    const replicas = (await sentinelCli(row.pod, 'replicas', name).catch(() => [])) as SentinelReplica[];
    // Replicas this sentinel can really use: flags exactly "slave" and the replica's link to the master up.
    const usable = replicas.filter((r) => r.flags === 'slave' && r['master-link-status'] === 'ok').length;
    const host = addr?.[0];
    if (host) masters.set(row.pod, host);
    row.state = `master ${host ? host.split('.')[0] : '?'}, ${usable}/${master['num-slaves'] ?? '?'} replicas usable, ${Number(master['num-other-sentinels'] ?? -1) + 1} sentinels, flags ${master.flags ?? '?'}${row.ready ? '' : ', not ready'}`;
    const ok = host && usable === want.redis - 1 && Number(master['num-slaves']) === want.redis - 1 &&
      Number(master['num-other-sentinels']) === want.sentinel - 1 && master.flags === 'master';
    if (!ok) row.state += ' (!)';
  }
  const agreed = new Set(masters.values());
  const masterHost = agreed.size === 1 && masters.size === want.sentinel ? [...agreed][0] : undefined;
  const masterPod = masterHost?.split('.')[0];

  let linksUp = 0;
  const records: { pod: string; start: ReturnType<typeof parsePosition>; now: ReturnType<typeof parsePosition> }[] = [];
  for (const p of redisPods) {
    const row = baseRow('redis', p);
    rows.push(row);
    if (!running(p)) continue;
    const st = await execJson<RedisStatus>(kube, ns, row.pod, 'redis', ['redis-status']).catch(() => undefined);
    if (!st) { row.state = 'does not answer'; continue; }
    const info = st.info;
    records.push({ pod: row.pod, start: parsePosition(st.startPosition), now: parsePosition(st.position) });
    row.role = info.role === 'slave' ? 'replica' : info.role ?? '?';
    if (row.role === 'replica') {
      row.state = `link ${info.master_link_status}${row.ready ? '' : ', not ready'}`;
      row.lag = info.master_link_status === 'up' ? `${Math.max(0, Number(info.master_repl_offset ?? 0) - Number(info.slave_repl_offset ?? 0))} B` : '-';
      if (info.master_link_status === 'up' && info.master_host === masterHost) linksUp++;
    } else if (row.role === 'master') {
      row.state = `${info.connected_slaves} replicas connected${row.ready ? '' : ', not ready'}`;
    }
  }
  const sentinelsOk = rows.filter((r) => r.component === 'sentinel').every((r) => !r.state.endsWith('(!)') && r.ready);
  checks.push({
    name: 'sentinel',
    ok: !!masterPod && sentinelsOk,
    detail: masterPod ? `all ${masters.size} sentinels agree: master ${masterPod}` : `sentinels disagree or are missing: ${[...masters.entries()].map(([s, m]) => `${s}→${m.split('.')[0]}`).join(', ') || 'none answered'}`,
  });
  const masterRow = rows.find((r) => r.component === 'redis' && r.pod === masterPod);
  checks.push({
    name: 'redis',
    ok: masterRow?.role === 'master' && !!masterRow.ready && linksUp === want.redis - 1,
    detail: `master ${masterPod ?? 'unknown'} ${masterRow?.role === 'master' ? 'is master' : 'does NOT report master'}, ${linksUp}/${want.redis - 1} replicas linked to it`,
  });
  const masterRecords = records.find((r) => r.pod === masterPod);
  if (masterRecords) {
    const problems = lineageProblems(masterRecords, records.filter((r) => r.pod !== masterPod));
    checks.push({
      name: 'redis data lineage',
      ok: problems.length === 0,
      detail: problems.length ? problems.join('; ') : `no server started with data beyond master ${masterPod}'s history, as far as the records show`,
    });
  }
  return { rows, master: masterPod };
}

async function redisWriteCheck(kube: Kube, tier: TierDescriptor, redisPods: k8s.V1Pod[], master: string | undefined, checks: Check[]) {
  const ns = tier.namespace;
  const replica = redisPods.find((p) => podName(p) !== master && isReady(p));
  const writer = replica ?? redisPods.find(isReady);
  if (!writer || !master) {
    checks.push({ name: 'redis write', ok: false, detail: 'no agreed master to write to' });
    return;
  }
  const token = `health-${Date.now()}`;
  const sentinel = serviceHost(COMPONENTS.sentinel.services.client, ns, tier.clusterDomain);
  // Discovery as a client does it: ask Sentinel for the master, then write there.
  const res = await execJson<{ ok: boolean; error?: string }>(kube, ns, podName(writer), 'redis',
    ['redis-check', 'write', sentinel, token, String(replica ? 1 : 0)]);
  if (!res.ok) {
    checks.push({ name: 'redis write', ok: false, detail: `SET through Sentinel discovery failed: ${res.error ?? '?'}` });
    return;
  }
  if (!replica) {
    checks.push({ name: 'redis write', ok: true, detail: 'SET through Sentinel discovery (no replica to read from)' });
    return;
  }
  const read = await execJson<{ ok: boolean }>(kube, ns, podName(replica), 'redis', ['redis-check', 'read', token]);
  checks.push({ name: 'redis write', ok: read.ok, detail: `SET through Sentinel discovery as the application (TLS), ${read.ok ? 'read back' : 'NOT found'} on replica ${podName(replica)}` });
}

/** Reads the whole tier's health. `writes: false` skips the functional write checks. */
export async function tierHealth(kube: Kube, tier: TierDescriptor, opts: { writes?: boolean } = {}): Promise<TierHealth> {
  const ns = tier.namespace;
  const list = (c: ComponentKey) => listPods(kube, ns, selectorOf(c));
  const [etcdPods, pgPods, redisPods, sentinelPods, routerPods] = await Promise.all(
    (['etcd', 'postgres', 'redis', 'sentinel', 'router'] as const).map(list));
  const checks: Check[] = [];
  const guard = async <T>(name: string, fn: () => Promise<T>, fallback: T): Promise<T> => {
    try {
      return await fn();
    } catch (err) {
      checks.push({ name, ok: false, detail: (err as Error).message.slice(0, 200) });
      return fallback;
    }
  };
  const etcd = await guard('etcd', () => etcdView(kube, tier, etcdPods, checks), { rows: etcdPods.map((p) => baseRow('etcd', p)), leader: undefined });
  const pg = await guard('patroni', () => patroniView(kube, tier, pgPods, checks),
    { rows: pgPods.map((p) => baseRow('postgres', p)), leader: undefined, members: [] as PatroniMember[] });
  const routerRows: Row[] = [];
  const routed = await guard('routing', () => routingChecks(kube, tier, pg.leader, pg.members, routerPods, routerRows, checks), { primary: [], replicas: [] });
  const redis = await guard('sentinel', () => redisView(kube, tier, redisPods, sentinelPods, checks), { rows: [] as Row[], master: undefined });
  if (opts.writes ?? true) {
    await guard('postgres write', () => postgresWriteCheck(kube, tier, pg.leader, pgPods, checks), undefined);
    await guard('redis write', () => redisWriteCheck(kube, tier, redisPods, redis.master, checks), undefined);
  }
  const rows = [...etcd.rows, ...pg.rows, ...routerRows, ...redis.rows];
  const members = (['etcd', 'postgres', 'redis', 'sentinel'] as const).reduce((n, c) => n + tier.members[c].replicas, 0);
  const memberRows = rows.filter((r) => r.component !== 'router');
  const readyPods = memberRows.filter((r) => r.ready).length;
  checks.unshift({ name: 'pods', ok: readyPods === members && memberRows.length === members, detail: `${readyPods}/${members} member pods Ready` });
  return {
    healthy: checks.every((c) => c.ok),
    rows,
    checks,
    facts: { etcdLeader: etcd.leader, patroniLeader: pg.leader, redisMaster: redis.master, primaryEndpoints: routed.primary, replicaEndpoints: routed.replicas },
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
