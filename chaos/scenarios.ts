/**
 * The fault matrix: each scenario is a fault (chaos/faults/) × a target × an expectation. Names read
 * `<target>-<fault>`; the nine pod-deletion scenarios keep the names earlier reports used.
 */
import type { LeaderView, MemberComponent, System } from '../contract/index.js';
import { crash } from './faults/crash.js';
import { drain } from './faults/drain.js';
import { etcdQuorumLoss } from './faults/etcd-quorum-loss.js';
import { fullRestart, fullRestartLagging } from './faults/full-restart.js';
import { nodeFreeze, nodeStop } from './faults/node.js';
import { cutFromEtcd, cutFromSentinels, isolate } from './faults/partition.js';
import { podDeleteForce, podDeleteGraceful } from './faults/pod-delete.js';
import { rollingUpdate } from './faults/rolling-update.js';
import type { Fault, FaultContext } from './faults/types.js';
import { UserError } from '../tools/kube.js';
import { matches } from './report.js';

export interface TargetSpec {
  component: MemberComponent;
  /** The component's leader, or the member with the highest ordinal that does not lead. */
  pick: 'leader' | 'follower';
}

export interface Scenario {
  readonly name: string;
  readonly fault: Fault;
  /** Who is hit; none for faults on the whole tier. */
  readonly target?: TargetSpec;
  /** The client whose write gap is the headline, and the view whose leader change is timed. */
  readonly system: System;
  readonly view: LeaderView;
  /** How long the fault lasts before it is healed; 0 for faults that end by themselves. */
  readonly durationMs: number;
  /** The duration in the short pass (`--short`, the CI's). */
  readonly shortDurationMs?: number;
  /** Whether the viewed leader should move: true, false, or null when either is fine. */
  readonly leaderMoves: boolean | null;
  /** Runs before the probe starts (e.g. a failover before a full restart); may return a new target. */
  readonly setup?: (ctx: FaultContext) => Promise<string | void>;
}

const LEADER_VIEW: Record<MemberComponent, LeaderView> = { postgres: 'patroni', redis: 'sentinel', sentinel: 'sentinel', etcd: 'etcd' };
const SYSTEM_OF: Record<MemberComponent, System> = { postgres: 'pg', redis: 'redis', sentinel: 'redis', etcd: 'etcd' };
const SHORT: Record<string, string> = { postgres: 'pg', redis: 'redis', sentinel: 'sentinel', etcd: 'etcd' };
const ROLE_WORD: Record<MemberComponent, Record<TargetSpec['pick'], string>> = {
  postgres: { leader: 'leader', follower: 'replica' },
  redis: { leader: 'master', follower: 'replica' },
  sentinel: { leader: 'sentinel', follower: 'sentinel' },
  etcd: { leader: 'leader', follower: 'follower' },
};

function on(component: MemberComponent, pick: TargetSpec['pick'], fault: Fault, opts: Partial<Scenario> & { name?: string } = {}): Scenario {
  const who = component === 'sentinel' ? 'sentinel' : `${SHORT[component]}-${ROLE_WORD[component][pick]}`;
  return {
    name: opts.name ?? `${who}-${fault.name}`,
    fault,
    target: { component, pick },
    system: SYSTEM_OF[component],
    view: LEADER_VIEW[component],
    durationMs: 0,
    leaderMoves: pick === 'leader' && component !== 'sentinel',
    ...opts,
  };
}

/** A graceful failover of the PostgreSQL leader and the Redis master, before a full restart. */
async function failoverFirst(ctx: FaultContext): Promise<void> {
  const { patroniLeader, redisMaster } = ctx.health.facts;
  for (const pod of [patroniLeader, redisMaster].filter((p): p is string => !!p)) {
    ctx.log(`setup: deleting ${pod} gracefully (a failover before the restart)`);
    await ctx.kube.core.deleteNamespacedPod({ name: pod, namespace: ctx.tier.namespace });
  }
}

export const SCENARIOS: readonly Scenario[] = [
  // Pod deletion through the API (the first plan's nine).
  on('postgres', 'leader', podDeleteGraceful, { name: 'pg-leader-graceful' }),
  on('postgres', 'leader', podDeleteForce, { name: 'pg-leader-force' }),
  on('postgres', 'follower', podDeleteGraceful, { name: 'pg-replica' }),
  on('redis', 'leader', podDeleteGraceful, { name: 'redis-master-graceful' }),
  on('redis', 'leader', podDeleteForce, { name: 'redis-master-force' }),
  on('redis', 'follower', podDeleteGraceful, { name: 'redis-replica' }),
  on('sentinel', 'follower', podDeleteGraceful, { name: 'sentinel' }),
  on('etcd', 'leader', podDeleteGraceful, { name: 'etcd-leader' }),
  on('etcd', 'follower', podDeleteGraceful, { name: 'etcd-follower' }),
  // Process crash: SIGKILL, no hook.
  on('postgres', 'leader', crash),
  on('postgres', 'follower', crash),
  on('redis', 'leader', crash),
  on('redis', 'follower', crash),
  on('sentinel', 'follower', crash),
  on('etcd', 'leader', crash),
  on('etcd', 'follower', crash),
  // Node loss: longer than the node controller's 40 s grace, so the node goes NotReady. A silent
  // Patroni leader is replaced only once its key expires (ttl 20 s, then an election): its faults
  // must last longer than that even in the short pass, or the leader may come back before anyone took
  // over (safe, but no failover to measure, and the trial's "the leader moves" would be a coin toss).
  on('postgres', 'leader', nodeFreeze, { durationMs: 50_000, shortDurationMs: 32_000 }),
  on('redis', 'leader', nodeFreeze, { durationMs: 50_000, shortDurationMs: 25_000 }),
  on('etcd', 'leader', nodeFreeze, { durationMs: 50_000, shortDurationMs: 25_000 }),
  on('postgres', 'leader', nodeStop, { durationMs: 50_000, shortDurationMs: 32_000 }),
  // Network partitions.
  on('postgres', 'leader', isolate, { durationMs: 32_000, shortDurationMs: 32_000 }),
  on('postgres', 'leader', cutFromEtcd, { durationMs: 30_000, shortDurationMs: 15_000, leaderMoves: false }),
  on('redis', 'leader', isolate, { durationMs: 30_000, shortDurationMs: 15_000 }),
  on('redis', 'leader', cutFromSentinels, { durationMs: 30_000, shortDurationMs: 15_000 }),
  on('etcd', 'leader', isolate, { durationMs: 30_000, shortDurationMs: 15_000 }),
  // etcd quorum lost: PostgreSQL must stay writable (failsafe mode).
  { name: 'etcd-quorum-loss', fault: etcdQuorumLoss, system: 'pg', view: 'patroni', durationMs: 30_000, shortDurationMs: 15_000, leaderMoves: false },
  // Full restart (the laptop reboot): plain, right after a failover, and with a lagging member.
  { name: 'full-restart', fault: fullRestart, system: 'redis', view: 'sentinel', durationMs: 0, leaderMoves: null },
  { name: 'full-restart-after-failover', fault: fullRestart, system: 'redis', view: 'sentinel', durationMs: 0, leaderMoves: null, setup: failoverFirst },
  on('redis', 'follower', fullRestartLagging, {
    name: 'full-restart-lagging', durationMs: 20_000, shortDurationMs: 10_000, leaderMoves: null,
    // The case: the master moves off a server, whose node then stops while writes go on.
    setup: async (ctx) => {
      const old = ctx.health.facts.redisMaster;
      if (!old) return;
      ctx.log(`setup: moving the Redis master off ${old} (graceful delete); ${old}'s node will lag`);
      await ctx.kube.core.deleteNamespacedPod({ name: old, namespace: ctx.tier.namespace });
      return old;
    },
  }),
  // Rolling updates after a configuration change, leader last.
  on('postgres', 'leader', rollingUpdate, { name: 'rolling-update-postgres' }),
  on('redis', 'leader', rollingUpdate, { name: 'rolling-update-redis' }),
  on('etcd', 'leader', rollingUpdate, { name: 'rolling-update-etcd' }),
  on('sentinel', 'follower', rollingUpdate, { name: 'rolling-update-sentinel', leaderMoves: null }),
  // Drain of the PostgreSQL leader's node.
  on('postgres', 'leader', drain, { name: 'drain-pg-leader-node', durationMs: 30_000, shortDurationMs: 10_000 }),
];

/** One scenario per fault: the e2e tier's short pass. */
export const ONE_PER_FAULT: readonly string[] = [
  'pg-leader-graceful', 'pg-leader-force', 'pg-leader-crash', 'pg-leader-node-freeze', 'pg-leader-node-stop',
  'pg-leader-partition', 'pg-leader-etcd-cut', 'redis-master-sentinel-cut', 'etcd-quorum-loss', 'full-restart',
  'full-restart-lagging', 'rolling-update-postgres', 'drain-pg-leader-node',
];

/**
 * The scenarios named by positionals (names or `*` patterns) and `--fault`, in the order they are
 * named (a pattern's matches in the matrix's order); the whole matrix in its order when none is named.
 */
export function chooseScenarios(positionals: string[], fault: string | undefined): Scenario[] {
  const unknown = positionals.filter((p) => !SCENARIOS.some((s) => matches(p, s.name)));
  if (unknown.length) throw new UserError(`no scenario matches ${unknown.join(', ')}: use ${SCENARIOS.map((s) => s.name).join(', ')}`);
  const faults = [...new Set(SCENARIOS.map((s) => s.fault.name))];
  if (fault && !faults.includes(fault)) throw new UserError(`--fault (${fault}) must be one of ${faults.join(', ')}`);
  const named = positionals.length ? [...new Set(positionals.flatMap((p) => SCENARIOS.filter((s) => matches(p, s.name))))] : [...SCENARIOS];
  return named.filter((s) => !fault || s.fault.name === fault);
}
