import type { TierHealth } from '../../tools/health.js';
import type { System } from '../history.js';

/** One kind of fault: which pod to delete, how, and what to measure. */
export interface Scenario {
  /** Name used on the command line and in reports. */
  readonly name: string;
  readonly title: string;
  /** The client whose write gap is this scenario's headline. */
  readonly system: System;
  /** The component view whose leader/master change is timed. */
  readonly view: 'patroni' | 'sentinel' | 'etcd';
  /** `true`: delete with grace period 0 (no preStop, no graceful stop); `false`: a normal delete. */
  readonly force: boolean;
  /** Whether deleting the target should move the leader. */
  readonly movesLeader: boolean;
  /** The pod to delete, chosen from the tier's current health. */
  target(health: TierHealth): string;
}

export function leaderOf(health: TierHealth, view: Scenario['view']): string {
  const leader = view === 'patroni' ? health.facts.patroniLeader : view === 'sentinel' ? health.facts.redisMaster : health.facts.etcdLeader;
  if (!leader) throw new Error(`the tier reports no ${view} leader`);
  return leader;
}

/** A member of `component` that is not the current leader (the highest ordinal, for repeatability). */
export function nonLeader(health: TierHealth, component: 'etcd' | 'postgres' | 'redis', leader: string): string {
  const pods = health.rows.filter((r) => r.component === component && r.pod !== leader).map((r) => r.pod).sort();
  if (pods.length === 0) throw new Error(`no ${component} pod besides the leader ${leader}: this scenario needs an HA layout`);
  return pods[pods.length - 1];
}
