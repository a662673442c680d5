/** A made-up trial result for the report and matrix tests: pg acknowledges every 100 ms, etcd every 50 ms. */
import type { TrialResult } from '../../chaos/trial.js';

const T0 = 1_700_000_000_000;
export function trial(scenario: string, system: TrialResult['system'], over: Partial<TrialResult> = {}): TrialResult {
  const events = [
    // pg acknowledges every 100 ms; etcd twice as often: a chart of the wrong client shows it.
    ...Array.from({ length: 40 }, (_, i) => ({ k: 'op' as const, t: T0 + i * 100 - 1_000, s: 'pg' as const, seq: i, ok: true, ms: 1 })),
    ...Array.from({ length: 80 }, (_, i) => ({ k: 'op' as const, t: T0 + i * 50 - 1_000, s: 'etcd' as const, seq: i, ok: true, ms: 1 })),
  ];
  return {
    scenario, fault: 'f', namespace: 'ha-tier', trial: 1, target: null, targetNode: null, detail: '', system, view: 'patroni', faultAt: T0,
    oldLeader: null, newLeader: null, newLeaderMs: null, writeGapMs: 1000, writeGapFrom: null, failedWrites: 0, podReadyMs: null, recoveredMs: 5000,
    lostAcked: { pg: 0, redis: 0, etcd: 0 }, ackedWrites: { pg: 0, redis: 0, etcd: 0 }, verified: { pg: true, redis: true, etcd: true },
    splitBrainRounds: 0, redisSplitRounds: 0, twoPrimariesRounds: 0, leaderChanges: { patroni: 1, sentinel: 0, etcd: 0 }, primaryMultiMs: 0, primaryStaleMs: 0,
    routingLagMs: null, phases: [], otherGapsMs: {}, sampleMs: 250, logFindings: [], events, ...over,
  };
}
