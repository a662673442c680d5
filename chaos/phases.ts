/**
 * The phases of a failover, as the components' own views and the API saw them, each beside the bound
 * the settings predict: pure functions over a trial's events (chaos/history.ts), unit-tested in
 * tests/chaos-phases.test.ts.
 *
 *   PostgreSQL: lock released (Patroni's leader key lost its holder) → new lock holder → promoted (the
 *     new leader answers writable) → routed (postgres-primary lists exactly it) → first write.
 *   Redis: detected (+sdown of the master) → promotion asked (a sentinel sent REPLICAOF NO ONE) →
 *     switch-master (clients told) → first write.
 *   etcd: leader elected (a majority of members name a new leader) → first write.
 *   Nodes: node NotReady (the node controller's verdict), for faults that take a node away.
 */
import type { TierDescriptor } from '../contract/index.js';
import { Event, Op, leaderTimeline, writeGap } from './history.js';

export type PhaseName = 'lock released' | 'new lock holder' | 'promoted' | 'routed' | 'detected' | 'promotion asked' |
  'switch-master' | 'leader elected' | 'first write' | 'node NotReady';

/** The phases after which clients reach the new leader, one per view. */
const ROUTING_PHASES: PhaseName[] = ['routed', 'switch-master', 'leader elected'];

export interface Phase {
  name: PhaseName;
  /** ms after the fault, or null when it did not happen in the trial. */
  ms: number | null;
  /** The bound the settings predict, ms after the fault; null when the settings predict none. */
  boundMs: number | null;
  /** The phase came later than its bound. */
  exceeded: boolean;
}

/** How a fault lets a failover start: the leader hands over itself, its process dies, or it goes silent. */
export type FailoverKind = 'handover' | 'crash' | 'silent' | 'none';

/** How long the probe takes to see a new etcd leader: a 250 ms sampling round, the status call's 500 ms deadline. */
const ETCD_OBSERVE_MS = 750;

export interface BoundContext {
  /**
   * The fault also took etcd's leader (its node was frozen or stopped with the target's). Then no lease
   * expires before a new etcd leader is elected, and that leader restarts every lease's TTL: Patroni's
   * leader key lives up to ttl after the etcd election plus its lease extension, not ttl after the
   * last renewal. Measured (pg-leader-node-stop, silent trials): 22.1-22.5 s with the etcd leader on
   * the stopped node, 18.9-19.5 s without, ttl 20.
   */
  dcsLeaderLost?: boolean;
}

/** Bounds per phase, in ms after the fault, from the tier's settings and the kind of failover. */
export function predictedBounds(tier: TierDescriptor, kind: FailoverKind, ctx: BoundContext = {}): Partial<Record<PhaseName, number>> {
  const dcs = tier.patroni.dcs as { ttl: number; loop_wait: number };
  const ttl = dcs.ttl * 1000;
  const loop = dcs.loop_wait * 1000;
  const downAfter = tier.redis.downAfterMilliseconds;
  // Patroni: a leader that hands over releases its key at once; one whose process died comes back
  // (primary_start_timeout 0) or loses the key after ttl; a silent one (frozen, cut off, node lost)
  // keeps it until ttl after its last renewal (or, when etcd lost its leader too, ttl after etcd's
  // next leader extended the leases). A replica sees the key gone on its next HA cycle
  // (up to loop_wait: the lab measured 2.1-2.2 s after the key went with loop_wait 2) and takes it;
  // promotion takes up to another loop; the router follows within a second (its own target).
  // etcd: a leader that stops gracefully hands its leadership over (bounded by an election timeout,
  // a heartbeat and the client's 1 s deadline, rounded up); a crashed or silent one is replaced when
  // a follower's election timer fires, which Raft randomises between one and two election timeouts
  // after the last heartbeat. A split vote takes another round, and is flagged.
  // A member that becomes etcd's leader extends every lease by an election timeout (etcd's lessor
  // `Promote`), on top of the lease's full TTL.
  const { electionTimeoutMs, heartbeatIntervalMs } = tier.etcd;
  const etcdElection = kind === 'handover' ? 2500 : 2 * electionTimeoutMs + heartbeatIntervalMs + ETCD_OBSERVE_MS;
  const release = kind === 'handover' ? 2 * loop + 2000
    : ctx.dcsLeaderLost ? etcdElection + electionTimeoutMs + ttl + loop
    : ttl + loop;
  // Sentinel: pings every second, so a silent master is +sdown within down-after + 1 s; a vote and
  // the promotion follow within about 2 s. A hand-over asks for the promotion itself.
  const detect = downAfter + 1000;
  const switchMaster = (kind === 'handover' ? 2000 : detect) + 3000;
  return {
    'lock released': release,
    'new lock holder': release + loop + 1000,
    promoted: release + 2 * loop + 1000,
    routed: release + 2 * loop + 2000,
    detected: detect,
    'promotion asked': kind === 'handover' ? 2000 : detect + 2000,
    'switch-master': switchMaster,
    'leader elected': etcdElection,
    'node NotReady': 40_000 + 5_000,
  };
}

const after = <T extends Event>(events: Event[], t0: number, pred: (e: Event) => e is T): T | undefined =>
  events.filter((e): e is T => pred(e) && e.t >= t0).sort((a, b) => a.t - b.t)[0];

/** The phases of the view `view` for a trial whose fault started at `t0`. */
export function phases(events: Event[], t0: number, until: number, view: 'patroni' | 'sentinel' | 'etcd', oldLeader: string | null,
  bounds: Partial<Record<PhaseName, number>>, opts: { node?: string } = {}): Phase[] {
  const out: { name: PhaseName; t: number | null }[] = [];
  const first = (name: PhaseName, e: Event | undefined) => out.push({ name, t: e?.t ?? null });
  if (view === 'patroni') {
    const released = after(events, t0, (e): e is Extract<Event, { k: 'dcs' }> => e.k === 'dcs' && e.value !== oldLeader);
    const holder = after(events, t0, (e): e is Extract<Event, { k: 'dcs' }> => e.k === 'dcs' && !!e.value && e.value !== oldLeader);
    first('lock released', released);
    first('new lock holder', holder);
    const leader = holder?.value;
    first('promoted', leader ? after(events, t0, (e): e is Extract<Event, { k: 'sample' }> => e.k === 'sample' && e.v === 'pg-writable' && e.pod === leader && e.value === true) : undefined);
    first('routed', leader ? after(events, t0, (e): e is Extract<Event, { k: 'slice' }> => e.k === 'slice' && e.pods.length === 1 && e.pods[0] === leader) : undefined);
  } else if (view === 'sentinel') {
    // Detection is of the old master (`+sdown master <name> <host> <port>`): not a replica's restart,
    // nor one sentinel's brief doubt about the new master after a hand-over (seen 6 s after one).
    first('detected', after(events, t0, (e): e is Extract<Event, { k: 'sentinel-event' }> => e.k === 'sentinel-event' && (e.event === '+sdown' || e.event === '+odown')
      && e.msg.startsWith('master ') && (!oldLeader || e.msg.includes(` ${oldLeader}.`))));
    first('promotion asked', after(events, t0, (e): e is Extract<Event, { k: 'sentinel-event' }> => e.k === 'sentinel-event' && e.event === '+failover-state-send-slaveof-noone'));
    first('switch-master', after(events, t0, (e): e is Extract<Event, { k: 'sentinel-event' }> => e.k === 'sentinel-event' && e.event === '+switch-master'));
  } else {
    const tl = leaderTimeline(events, 'etcd');
    const next = tl.find((p) => p.t >= t0 && p.leader !== null && p.leader !== oldLeader);
    out.push({ name: 'leader elected', t: next?.t ?? null });
  }
  // The first acknowledged write once the clients were pointed at the new leader (at or after the
  // last routing phase: routed, switch-master, leader elected). Without one (the leader was kept, or
  // its change not seen), the end of the client's longest gap, or, when the writes never stopped (a
  // gap under half a second), the first one after the fault. Anchoring on the routing phase keeps an
  // unrelated later gap (a heal, a reconnect) from being taken for the failover's end.
  const system = view === 'patroni' ? 'pg' : view === 'sentinel' ? 'redis' : 'etcd';
  const isAck = (e: Event): e is Op => e.k === 'op' && (e as Op).s === system && (e as Op).ok;
  const routedAt = out.filter((p) => ROUTING_PHASES.includes(p.name) && p.t !== null).map((p) => p.t!).at(-1);
  let firstAck: Event | undefined;
  if (routedAt !== undefined) {
    firstAck = after(events, routedAt, isAck);
    if (firstAck && firstAck.t > until) firstAck = undefined;
  } else {
    const gap = writeGap(events, system, t0, until);
    const outage = gap.gapMs !== null && gap.gapMs >= 500;
    firstAck = outage
      ? (gap.to !== null && gap.to < until ? events.find((e) => isAck(e) && e.t === gap.to) : undefined)
      : after(events, t0, isAck);
  }
  out.push({ name: 'first write', t: firstAck?.t ?? null });
  if (opts.node) {
    first('node NotReady', after(events, t0, (e): e is Extract<Event, { k: 'node' }> => e.k === 'node' && e.node === opts.node && !e.ready));
  }
  return judge(out.map(({ name, t }) => ({ name, ms: t === null ? null : t - t0 })), bounds);
}

/**
 * Each measured phase beside its bound, flagged when later. Used when a trial is analysed and again
 * when a kept record is paged (chaos/matrix.ts), so every trial of a page is judged by one model.
 */
export function judge(measured: { name: PhaseName; ms: number | null }[], bounds: Partial<Record<PhaseName, number>>): Phase[] {
  return measured.map(({ name, ms }) => {
    const bound = name === 'first write' ? firstWriteBound(measured, bounds) : bounds[name] ?? null;
    return { name, ms, boundMs: bound, exceeded: ms !== null && bound !== null && ms > bound };
  });
}

/**
 * The first write is due a second after the last routing phase's bound, when a failover was under
 * way (a phase of the leader's change was seen). When the leader was kept there is nothing the
 * settings bound: the write phase is then the end of the client's longest stall, which may be any
 * hiccup of the run, and it is shown, not judged.
 */
function firstWriteBound(measured: { name: PhaseName; ms: number | null }[], bounds: Partial<Record<PhaseName, number>>): number | null {
  const failover = measured.some((p) => p.name !== 'first write' && p.name !== 'node NotReady' && p.ms !== null);
  const last = ROUTING_PHASES.find((n) => measured.some((p) => p.name === n));
  const b = failover && last ? bounds[last] : undefined;
  return b === undefined ? null : b + 1000;
}
