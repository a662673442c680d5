/**
 * The operation history a trial records, and its analysis: write gaps, lost acknowledged writes,
 * overlapping writable primaries, time to a new leader. Pure functions: unit-tested on recorded and
 * crafted histories (tests/chaos-history.test.ts).
 */

export type System = 'pg' | 'redis' | 'etcd';
export const SYSTEMS: readonly System[] = ['pg', 'redis', 'etcd'];

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
 * A view sample. `pg-writable`: a PostgreSQL pod answered `pg_is_in_recovery()` (writable = false
 * means replica; null = unreachable); `patroni`: a member's own role; `sentinel`: a sentinel's master;
 * `etcd`: a member's idea of the leader. `r` is the sampling round (all pods sampled together).
 */
export interface Sample {
  k: 'sample';
  t: number;
  r: number;
  v: 'pg-writable' | 'patroni' | 'sentinel' | 'etcd';
  pod: string;
  value: string | boolean | null;
}

export interface Verify {
  k: 'verify';
  t: number;
  s: System;
  acked: number;
  missing: number[];
  /** False when the verification itself could not read the data back. */
  complete: boolean;
  e?: string;
}

export type Event = Op | Sample | Verify | { k: 'ready' | 'done' | 'log'; t: number; msg?: string };

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

/** Rounds where more than one pod answered as a writable primary (`pg_is_in_recovery() = false`). */
export function splitBrain(events: Event[]): SplitBrain {
  const byRound = new Map<number, { t: number; pods: string[] }>();
  for (const e of events) {
    if (e.k !== 'sample' || e.v !== 'pg-writable' || e.value !== true) continue;
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
      for (const s of samples) if (typeof s.value === 'string' && s.value) votes.set(s.value, (votes.get(s.value) ?? 0) + 1);
      const majority = Math.floor(samples.length / 2) + 1;
      const winner = [...votes.entries()].find(([, n]) => n >= majority);
      out.push({ t, leader: winner ? winner[0] : null });
    }
  }
  return out;
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
