/**
 * What the postgres-primary and postgres-replicas Services should route to, from Patroni's own state in
 * etcd: pure functions, unit-tested in tests/router.test.ts.
 *
 * The truth is Patroni's DCS, not any member's word about itself: the leader is whoever holds the
 * leader key (a frozen, partitioned or lost leader cannot renew it, so it loses it after `ttl` and
 * leaves the routing even though it can tell nobody); replicas are the members whose keys (which
 * expire the same way) say they run and stream. One exception follows Patroni: with `failsafe_mode`, a
 * primary that lost etcd but still reaches every member keeps running as primary without the key,
 * and keeps its route as long as it says so itself (see `failsafeCandidate`).
 */

/** A Patroni member as its key in etcd describes it (`<prefix><scope>/members/<name>`). */
export interface DcsMember {
  name: string;
  /** The PostgreSQL address from `conn_url`. */
  host: string | null;
  /** Patroni's REST API base URL, from `api_url` without its path. */
  apiBase: string | null;
  role: string;
  state: string;
  replicationState: string | null;
  timeline: number | null;
  xlogLocation: number | null;
}

export interface DcsState {
  /** etcd's store revision this view was read at. */
  revision: bigint;
  /** The leader key's value, or null when no member holds it. */
  leader: string | null;
  members: DcsMember[];
}

export interface Routing {
  primary: DcsMember | null;
  replicas: DcsMember[];
  /** Why the primary is what it is, for logs and /state. */
  reason: string;
}

/** Parses the keys under `<prefix><scope>/` into Patroni's cluster state. */
export function parseDcs(clusterPrefix: string, kvs: { key: string; value: string }[], revision: bigint): DcsState {
  let leader: string | null = null;
  const members: DcsMember[] = [];
  for (const { key, value } of kvs) {
    if (!key.startsWith(clusterPrefix)) continue;
    const rest = key.slice(clusterPrefix.length);
    if (rest === 'leader') leader = value || null;
    else if (rest.startsWith('members/')) {
      const m = parseMember(rest.slice('members/'.length), value);
      if (m) members.push(m);
    }
  }
  members.sort((a, b) => a.name.localeCompare(b.name, 'en', { numeric: true }));
  return { revision, leader, members };
}

function parseMember(name: string, value: string): DcsMember | null {
  let data: Record<string, unknown>;
  try {
    data = JSON.parse(value) as Record<string, unknown>;
  } catch {
    return null;
  }
  const url = (v: unknown): URL | null => {
    try {
      return typeof v === 'string' ? new URL(v) : null;
    } catch {
      return null;
    }
  };
  const conn = url(data.conn_url);
  const api = url(data.api_url);
  const num = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : null);
  return {
    name,
    host: conn ? conn.hostname.replace(/^\[|\]$/g, '') : null,
    apiBase: api ? `${api.protocol}//${api.host}` : null,
    role: String(data.role ?? ''),
    state: String(data.state ?? ''),
    replicationState: typeof data.replication_state === 'string' ? data.replication_state : null,
    timeline: num(data.timeline),
    xlogLocation: num(data.xlog_location),
  };
}

/** A replica worth reading from: running, streaming from the primary, not the primary itself. */
export function isServingReplica(m: DcsMember, primary: string | null): boolean {
  return m.name !== primary && m.host !== null && m.role === 'replica' && m.state === 'running' && m.replicationState === 'streaming';
}

/**
 * The routing Patroni's state asks for. `failsafePrimary` is a member that, with the leader key gone,
 * answered on its own REST API that it still runs as primary in failsafe mode (null otherwise).
 */
export function desiredRouting(state: DcsState, failsafePrimary: string | null = null): Routing {
  let primary: DcsMember | null = null;
  let reason: string;
  if (state.leader) {
    primary = state.members.find((m) => m.name === state.leader && m.host) ?? null;
    reason = primary ? `${state.leader} holds the leader key` : `${state.leader} holds the leader key but publishes no address`;
  } else if (failsafePrimary) {
    primary = state.members.find((m) => m.name === failsafePrimary && m.host) ?? null;
    reason = primary ? `no leader key; ${failsafePrimary} runs as primary in failsafe mode` : `no leader key; failsafe primary ${failsafePrimary} has no member key`;
  } else {
    reason = 'no member holds the leader key (an election is under way or the cluster is down)';
  }
  const replicas = state.members.filter((m) => isServingReplica(m, primary?.name ?? state.leader));
  return { primary, replicas, reason };
}

/**
 * The member to ask about failsafe mode: with no leader key, only the primary we routed to last can be
 * running in failsafe (Patroni lets only the last leader continue, and only while every member answers it).
 */
export function failsafeCandidate(state: DcsState, lastPrimary: string | null): string | null {
  return !state.leader && lastPrimary && state.members.some((m) => m.name === lastPrimary) ? lastPrimary : null;
}

/** One EndpointSlice endpoint. */
export interface SliceEndpoint {
  addresses: string[];
  conditions: { ready: boolean; serving: boolean; terminating: boolean };
  targetRef: { kind: 'Pod'; namespace: string; name: string };
}

export function sliceEndpoints(members: DcsMember[], namespace: string): SliceEndpoint[] {
  return members
    .filter((m): m is DcsMember & { host: string } => m.host !== null)
    .map((m) => ({
      addresses: [m.host],
      conditions: { ready: true, serving: true, terminating: false },
      targetRef: { kind: 'Pod' as const, namespace, name: m.name },
    }));
}

/** Whether two endpoint lists route the same (same pods at the same addresses, in any order). */
export function sameEndpoints(a: { addresses?: string[]; targetRef?: { name?: string } }[] | undefined, b: SliceEndpoint[]): boolean {
  const key = (e: { addresses?: string[]; targetRef?: { name?: string } }) => `${e.targetRef?.name ?? ''}@${[...(e.addresses ?? [])].sort().join(',')}`;
  const x = (a ?? []).map(key).sort();
  const y = b.map(key).sort();
  return x.length === y.length && x.every((v, i) => v === y[i]);
}

/**
 * Whether a writer whose view is at `revision` may write a slice that records `written` (the annotation
 * of its last writer): only a view at least as new. Guards against a router that was frozen or cut off
 * waking up and writing what it saw before.
 */
export function mayWrite(written: string | undefined, revision: bigint): boolean {
  if (!written || !/^\d+$/.test(written)) return true;
  return BigInt(written) <= revision;
}
