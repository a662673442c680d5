/**
 * The operation history a trial records, and its analysis: write gaps, lost acknowledged writes,
 * overlapping writable primaries and masters, leader changes, how long the routing disagreed with the
 * truth. Pure functions: unit-tested on recorded and crafted histories (tests/chaos-history.test.ts).
 *
 * Events come from the in-cluster probe (ops, samples, Patroni's leader key, Sentinel events, what it
 * read back) and from the runner's own API watches (the routed EndpointSlice, node conditions).
 */
import { SYSTEMS, System } from '../contract/index.js';

export { SYSTEMS };
export type { System };

/** One write attempt as the client saw it. `t` is the ack (or error) time in ms since the epoch. */
export interface Op {
  k: 'op';
  t: number;
  s: System;
  seq: number;
  ok: boolean;
  /** Latency of the attempt in ms. */
  ms: number;
  /** Error text of a failed attempt. */
  e?: string;
}

/**
 * A view sample. `pg-writable`: whether a PostgreSQL pod can acknowledge a commit (a primary whose
 * synchronous standby, if it names one, streams from it; null = unreachable); `pg-primary`: whether it
 * is out of recovery at all (a thawed old primary is, for a moment, but cannot acknowledge); `patroni`: a member's own role; `redis-writable`: a Redis server
 * is a master that accepts writes (enough good replicas for min-replicas-to-write); `sentinel`: a
 * sentinel's master; `etcd`: a member's idea of the leader. `r` is the sampling round (all pods
 * sampled together).
 */
export interface Sample {
  k: 'sample';
  t: number;
  r: number;
  v: 'pg-writable' | 'pg-primary' | 'patroni' | 'redis-writable' | 'sentinel' | 'etcd';
  pod: string;
  value: string | boolean | null;
}

/** Every sequence number of the run a system returned when read back after the trial. */
export interface Present {
  k: 'present';
  t: number;
  s: System;
  seqs: number[];
  /** False when the read-back itself failed. */
  complete: boolean;
  e?: string;
}

/** Patroni's leader key changed (value: the holder, null: no holder). */
export interface DcsEvent { k: 'dcs'; t: number; key: 'leader'; value: string | null }
/** A Sentinel published a failover event about the master. */
export interface SentinelEvent { k: 'sentinel-event'; t: number; pod: string; event: string; msg: string }
/** The runner saw the routed primary EndpointSlice list these pods. */
export interface SliceEvent { k: 'slice'; t: number; pods: string[] }
/** The runner saw a node's Ready condition change. */
export interface NodeEvent { k: 'node'; t: number; node: string; ready: boolean }

export type Event = Op | Sample | Present | DcsEvent | SentinelEvent | SliceEvent | NodeEvent |
  { k: 'ready' | 'done' | 'log'; t: number; msg?: string; sampleMs?: number };

export interface GapResult {
  /** Longest time between two consecutive acknowledged writes, from the last ack before the fault on. */
  gapMs: number | null;
  /** When that gap started and ended. */
  from: number | null;
  to: number | null;
  /** Failed attempts in the window. */
  errors: number;
}

/**
 * The client's write gap around a fault: the longest interval between two consecutive acknowledged
 * writes of system `s`, looking from the last ack before `faultAt` to `until`. A graceful delete can
 * make the outage start after the delete call (the hand-over runs first), so the longest interval is
 * used rather than just "last before, first after". With no ack after the fault, the gap runs to
 * `until` (the client never recovered in the window).
 */
export function writeGap(events: Event[], s: System, faultAt: number, until: number): GapResult {
  const acks = events.filter((e): e is Op => e.k === 'op' && e.s === s && e.ok).map((e) => e.t).sort((a, b) => a - b);
  const errors = events.filter((e) => e.k === 'op' && (e as Op).s === s && !(e as Op).ok && e.t >= faultAt && e.t <= until).length;
  let beforeIdx = -1;
  for (let i = 0; i < acks.length && acks[i] < faultAt; i++) beforeIdx = i;
  if (beforeIdx < 0) return { gapMs: null, from: null, to: null, errors };
  let best = { gapMs: 0, from: acks[beforeIdx], to: acks[beforeIdx] };
  let prev = acks[beforeIdx];
  for (let i = beforeIdx + 1; i < acks.length && acks[i] <= until; i++) {
    if (acks[i] - prev > best.gapMs) best = { gapMs: acks[i] - prev, from: prev, to: acks[i] };
    prev = acks[i];
  }
  // No ack after `prev` within the window: the outage lasts at least until the window ends.
  if (until - prev > best.gapMs) best = { gapMs: until - prev, from: prev, to: until };
  return { ...best, errors };
}

/** Sequence numbers acknowledged to the client but absent when read back afterwards. */
export function lostWrites(acked: number[], present: Iterable<number>): number[] {
  const have = new Set(present);
  return acked.filter((seq) => !have.has(seq)).sort((a, b) => a - b);
}

export interface SplitBrain {
  /** Sampling rounds in which two or more PostgreSQL pods were writable primaries. */
  rounds: { r: number; t: number; pods: string[] }[];
}

/**
 * Rounds where more than one pod answered as writable: PostgreSQL primaries able to acknowledge a
 * commit (the default), Redis masters that accept writes (`redis-writable`), or, for information,
 * PostgreSQL servers out of recovery whether they can acknowledge or not (`pg-primary`).
 */
export function splitBrain(events: Event[], view: 'pg-writable' | 'pg-primary' | 'redis-writable' = 'pg-writable'): SplitBrain {
  const byRound = new Map<number, { t: number; pods: string[] }>();
  for (const e of events) {
    if (e.k !== 'sample' || e.v !== view || e.value !== true) continue;
    const round = byRound.get(e.r) ?? { t: e.t, pods: [] };
    round.pods.push(e.pod);
    byRound.set(e.r, round);
  }
  return {
    rounds: [...byRound.entries()]
      .filter(([, v]) => new Set(v.pods).size > 1)
      .map(([r, v]) => ({ r, t: v.t, pods: [...new Set(v.pods)].sort() })),
  };
}

/**
 * The leader as a component's own view reports it in each round: Patroni's member answering "master"
 * (or "primary"), the master a majority of sentinels name, the leader a majority of etcd members name.
 */
export function leaderTimeline(events: Event[], view: 'patroni' | 'sentinel' | 'etcd'): { t: number; leader: string | null }[] {
  const rounds = new Map<number, Sample[]>();
  for (const e of events) {
    if (e.k === 'sample' && e.v === view) rounds.set(e.r, [...(rounds.get(e.r) ?? []), e]);
  }
  const out: { t: number; leader: string | null }[] = [];
  for (const [, samples] of [...rounds.entries()].sort((a, b) => a[0] - b[0])) {
    const t = Math.min(...samples.map((s) => s.t));
    if (view === 'patroni') {
      const leaders = samples.filter((s) => s.value === 'master' || s.value === 'primary').map((s) => s.pod);
      out.push({ t, leader: leaders.length === 1 ? leaders[0] : null });
    } else {
      const votes = new Map<string, number>();
      // etcd names no leader as member ID 0 (a member between terms, or that has not heard from one):
      // that is no vote, not a leader called "0".
      for (const s of samples) if (typeof s.value === 'string' && s.value && !(view === 'etcd' && s.value === '0')) votes.set(s.value, (votes.get(s.value) ?? 0) + 1);
      const majority = Math.floor(samples.length / 2) + 1;
      const winner = [...votes.entries()].find(([, n]) => n >= majority);
      out.push({ t, leader: winner ? winner[0] : null });
    }
  }
  return out;
}

/**
 * How many times the leader changed from `faultAt` on: transitions between two different named
 * leaders, rounds without an agreed leader in between being ignored.
 */
export function leaderChanges(timeline: { t: number; leader: string | null }[], faultAt: number): { count: number; leaders: string[] } {
  let last: string | null = null;
  const leaders: string[] = [];
  for (const p of timeline) {
    if (p.leader === null) continue;
    if (p.t < faultAt) { last = p.leader; continue; }
    if (p.leader !== last) {
      if (last !== null) leaders.push(p.leader);
      last = p.leader;
    }
  }
  return { count: leaders.length, leaders };
}

/**
 * How long, from `faultAt` to `until`, the routed primary EndpointSlice disagreed with the truth:
 * `multiMs`, it listed more than one pod; `staleMs`, it listed a pod that the samples show not writable
 * while another pod was writable (clients sent to a demoted, frozen or lost primary).
 */
export function routingDisagreement(events: Event[], faultAt: number, until: number): { multiMs: number; staleMs: number } {
  const slices = events.filter((e): e is SliceEvent => e.k === 'slice').sort((a, b) => a.t - b.t);
  const rounds = new Map<number, Sample[]>();
  for (const e of events) if (e.k === 'sample' && e.v === 'pg-writable') rounds.set(e.r, [...(rounds.get(e.r) ?? []), e]);
  const truth = [...rounds.values()].map((ss) => ({ t: Math.min(...ss.map((x) => x.t)), writable: ss.filter((x) => x.value === true).map((x) => x.pod) }))
    .sort((a, b) => a.t - b.t);
  const at = <T extends { t: number }>(xs: T[], t: number): T | undefined => { let r: T | undefined; for (const x of xs) { if (x.t <= t) r = x; else break; } return r; };
  let multiMs = 0;
  let staleMs = 0;
  // Step through time on every change of either, integrating the disagreement.
  const times = [...new Set([faultAt, until, ...slices.map((e) => e.t), ...truth.map((e) => e.t)])].filter((t) => t >= faultAt && t <= until).sort((a, b) => a - b);
  for (let i = 0; i + 1 < times.length; i++) {
    const dt = times[i + 1] - times[i];
    const slice = at(slices, times[i]);
    const real = at(truth, times[i]);
    if (!slice) continue;
    if (slice.pods.length > 1) multiMs += dt;
    if (real && real.writable.length === 1 && slice.pods.length >= 1 && !slice.pods.includes(real.writable[0])) staleMs += dt;
  }
  return { multiMs, staleMs };
}

/**
 * Milliseconds from the fault until the view first shows a leader other than `oldLeader`; null when it
 * never changes in the history (as expected when a replica or follower is deleted).
 */
export function timeToNewLeader(timeline: { t: number; leader: string | null }[], oldLeader: string, faultAt: number): { ms: number | null; leader: string | null } {
  const next = timeline.find((p) => p.t >= faultAt && p.leader !== null && p.leader !== oldLeader);
  return next ? { ms: next.t - faultAt, leader: next.leader } : { ms: null, leader: null };
}

export interface Stats {
  n: number;
  min: number | null;
  median: number | null;
  p95: number | null;
  max: number | null;
}

/** min / median / p95 (nearest rank) / max of the values that are numbers. */
export function stats(values: (number | null | undefined)[]): Stats {
  const xs = values.filter((v): v is number => typeof v === 'number' && Number.isFinite(v)).sort((a, b) => a - b);
  if (xs.length === 0) return { n: 0, min: null, median: null, p95: null, max: null };
  const mid = Math.floor(xs.length / 2);
  const median = xs.length % 2 ? xs[mid] : (xs[mid - 1] + xs[mid]) / 2;
  const p95 = xs[Math.min(xs.length - 1, Math.ceil(0.95 * xs.length) - 1)];
  return { n: xs.length, min: xs[0], median, p95, max: xs[xs.length - 1] };
}

/** Parses the probe's JSON-lines output, keeping what parses and counting what does not. */
export function parseEvents(text: string): { events: Event[]; bad: number } {
  const events: Event[] = [];
  let bad = 0;
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    try {
      events.push(JSON.parse(line) as Event);
    } catch {
      bad++;
    }
  }
  return { events, bad };
}
