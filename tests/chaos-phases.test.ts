/** Failover phases and the history's new measures (chaos/phases.ts, chaos/history.ts), on crafted histories. */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { TierDescriptor } from '../contract/index.js';
import { describeTier } from '../charts/app.js';
import { Event, Op, Sample, leaderChanges, leaderTimeline, routingDisagreement, splitBrain } from '../chaos/history.js';
import { phases, predictedBounds } from '../chaos/phases.js';
import { analyse } from '../chaos/trial.js';
import { SCENARIOS } from '../chaos/scenarios.js';

const T0 = 1_700_000_000_000;
const op = (t: number, seq: number, ok = true, s: Op['s'] = 'pg'): Op => ({ k: 'op', t: T0 + t, s, seq, ok, ms: 5 });
const sample = (t: number, r: number, v: Sample['v'], pod: string, value: Sample['value']): Sample => ({ k: 'sample', t: T0 + t, r, v, pod, value });
const tier: TierDescriptor = describeTier({ profile: 'kind' });

/** A frozen leader: its key expires at 19 s, postgres-1 takes it, promotes at 19.9 s, is routed at 19.5 s, writes resume at 20.1 s. */
function frozenLeader(): Event[] {
  const events: Event[] = [{ k: 'dcs', t: T0 - 5_000, key: 'leader', value: 'postgres-0' }, { k: 'slice', t: T0 - 5_000, pods: ['postgres-0'] }];
  for (let t = -2_000, seq = 0; t < 25_000; t += 50, seq++) if (t < 0 || t > 20_100) events.push(op(t, seq));
  events.push({ k: 'dcs', t: T0 + 19_000, key: 'leader', value: null }, { k: 'dcs', t: T0 + 19_200, key: 'leader', value: 'postgres-1' });
  events.push({ k: 'slice', t: T0 + 19_000, pods: [] }, { k: 'slice', t: T0 + 19_500, pods: ['postgres-1'] });
  for (let r = 0; r < 100; r++) {
    const t = r * 250 - 1_000;
    events.push(sample(t, r, 'pg-writable', 'postgres-0', t < 0 ? true : null));
    events.push(sample(t, r, 'pg-writable', 'postgres-1', t >= 19_900 ? true : false));
  }
  return events;
}

const Phases = suite('failover phases');
Phases('a silent leader: every phase from the components\' own events, beside the bounds ttl predicts', () => {
  const bounds = predictedBounds(tier, 'silent');
  const ph = phases(frozenLeader(), T0, T0 + 25_000, 'patroni', 'postgres-0', bounds);
  assert.equal(ph.map((p) => [p.name, p.ms]), [['lock released', 19_000], ['new lock holder', 19_200], ['promoted', 20_000], ['routed', 19_500], ['first write', 20_150]]);
  assert.is(bounds['lock released'], 22_000, 'ttl 20 s after the last renewal, plus a loop');
  assert.ok(ph.every((p) => !p.exceeded));
});
Phases('a rollout is timed from the leader\'s replacement: a replica\'s restart before it is not its detection', () => {
  // redis-1 (a replica) restarts 5 s into the rollout (+sdown of it); the master redis-0 is replaced
  // last, at 40 s, and hands over: promotion asked 0.4 s later, switch-master at 1 s, writes at 1.2 s.
  const ev = (t: number, event: string, msg = ''): Event => ({ k: 'sentinel-event', t: T0 + t, pod: 'sentinel-0', event, msg });
  const host = (pod: string) => `${pod}.redis-headless.ha-tier.svc.cluster.local`;
  const events: Event[] = [ev(5_000, '+sdown', `master mymaster ${host('redis-0')} 6379`), ev(40_400, '+failover-state-send-slaveof-noone'), ev(41_000, '+switch-master'),
    // One sentinel doubts the new master for a while after the hand-over: not a detection of the old one's end.
    ev(46_000, '+sdown', `master mymaster ${host('redis-1')} 6379`)];
  for (let t = -2_000, seq = 0; t < 60_000; t += 50, seq++) if (t < 40_000 || t > 41_200) events.push(op(t, seq, true, 'redis'));
  const scenario = SCENARIOS.find((x) => x.name === 'rolling-update-redis')!;
  const facts = { scenario, tier, trial: 1, target: undefined, detail: '', t0: T0, tStop: T0 + 60_000, oldLeader: 'redis-0', podReadyMs: null, recoveredMs: null, sampleMs: 250, findings: [] };
  const timed = analyse(events, { ...facts, failoverAfterMs: 40_000 });
  assert.equal(timed.phases.filter((p) => p.name !== 'first write').map((p) => [p.name, p.ms, p.exceeded]), [['detected', null, false], ['promotion asked', 400, false], ['switch-master', 1_000, false]]);
  assert.is(timed.failoverAfterMs, 40_000);
  const fromStart = analyse(events, facts);
  assert.is(fromStart.phases.find((p) => p.name === 'detected')!.ms, 5_000, 'from the rollout\'s start, the replica\'s +sdown passes for the master\'s detection');
  assert.ok(fromStart.phases.find((p) => p.name === 'switch-master')!.exceeded);
});
Phases("Sentinel's detection is of the old master: a replica's +sdown or the new master's is not", () => {
  const ev = (t: number, msg: string): Event => ({ k: 'sentinel-event', t: T0 + t, pod: 'sentinel-1', event: '+sdown', msg });
  const events: Event[] = [ev(1_000, 'slave redis-2.redis-headless.ha-tier.svc.cluster.local:6379 redis-2.redis-headless.ha-tier.svc.cluster.local 6379 @ mymaster redis-0.redis-headless.ha-tier.svc.cluster.local 6379'),
    ev(2_000, 'master mymaster redis-1.redis-headless.ha-tier.svc.cluster.local 6379'), ev(3_500, 'master mymaster redis-0.redis-headless.ha-tier.svc.cluster.local 6379')];
  const detected = phases(events, T0, T0 + 10_000, 'sentinel', 'redis-0', {}).find((p) => p.name === 'detected')!;
  assert.is(detected.ms, 3_500);
});
Phases("etcd's election bound follows the members' election timeout, as the descriptor gives it", () => {
  const slow: TierDescriptor = { ...tier, etcd: { ...tier.etcd, electionTimeoutMs: 2000 } };
  const at = (t: TierDescriptor) => predictedBounds(t, 'crash')['leader elected']!;
  assert.is(at(slow) - at(tier), 2 * 1000, 'Raft may wait up to two election timeouts');
});
Phases('a silent leader whose node also hosted etcd\'s leader: the key lives until ttl after etcd\'s next leader extended it', () => {
  // The key went 22.4 s after the fault (measured: 22.1-22.5 s when the stopped node hosted etcd's
  // leader, 18.9-19.5 s when it did not).
  const events = frozenLeader().map((e) => (e.k === 'dcs' && e.value === null ? { ...e, t: T0 + 22_400 } : e.k === 'dcs' && e.value === 'postgres-1' ? { ...e, t: T0 + 22_600 } : e));
  const plain = predictedBounds(tier, 'silent');
  const lost = predictedBounds(tier, 'silent', { dcsLeaderLost: true });
  const ttl = (tier.patroni.dcs as { ttl: number }).ttl * 1000;
  assert.is(lost['lock released']! - plain['lock released']!, lost['leader elected']! + tier.etcd.electionTimeoutMs, 'an etcd election, then the lease extension etcd gives every lease on promotion');
  assert.ok(plain['lock released']! >= ttl);
  const released = (b: typeof plain) => phases(events, T0, T0 + 30_000, 'patroni', 'postgres-0', b).find((p) => p.name === 'lock released')!;
  assert.is(released(plain).ms, 22_400);
  assert.ok(released(plain).exceeded, 'beyond ttl + a loop when the extension is not counted');
  assert.not.ok(released(lost).exceeded);
  assert.equal(predictedBounds(tier, 'handover', { dcsLeaderLost: true })['lock released'], predictedBounds(tier, 'handover')['lock released'], 'a leader that hands over does not wait for its key to expire');
});
Phases('a replica takes a released key on its next HA cycle: the bound allows a loop_wait for it', () => {
  const b = predictedBounds(tier, 'crash');
  const loop = (tier.patroni.dcs as { loop_wait: number }).loop_wait * 1000;
  assert.is(b['new lock holder']! - b['lock released']!, loop + 1000, 'seen 2.1-2.2 s after the key went, with loop_wait 2');
  assert.ok(b.promoted! >= b['new lock holder']! + loop, 'promotion comes up to a loop after taking the key');
  assert.ok(b.routed! > b.promoted!);
});
Phases('a phase later than its bound is flagged', () => {
  const ph = phases(frozenLeader(), T0, T0 + 25_000, 'patroni', 'postgres-0', predictedBounds(tier, 'handover'));
  assert.ok(ph.find((p) => p.name === 'lock released')!.exceeded, 'a hand-over should have released the key within seconds');
});
Phases('Redis: detection, promotion and switch-master come from the sentinels\' events', () => {
  const events: Event[] = [
    ...[0, 1, 2].map((i) => op(i * 50 - 200, i, true, 'redis')), op(3_000, 3, true, 'redis'),
    { k: 'sentinel-event', t: T0 + 1_500, pod: 'sentinel-0', event: '+sdown', msg: 'master mymaster redis-0.redis-headless.ha-tier.svc.cluster.local 6379' },
    { k: 'sentinel-event', t: T0 + 1_750, pod: 'sentinel-1', event: '+failover-state-send-slaveof-noone', msg: 'slave ...' },
    { k: 'sentinel-event', t: T0 + 2_700, pod: 'sentinel-0', event: '+switch-master', msg: 'mymaster a 6379 b 6379' },
  ];
  const ph = phases(events, T0, T0 + 5_000, 'sentinel', 'redis-0', predictedBounds(tier, 'crash'));
  assert.equal(ph.map((p) => [p.name, p.ms]), [['detected', 1_500], ['promotion asked', 1_750], ['switch-master', 2_700], ['first write', 3_000]]);
});
Phases('the first write is the first after the clients were told, not the end of a later, unrelated gap', () => {
  // The master cut from the sentinels only: clients keep writing to it, switch-master at 6 s, the
  // first write to the new master at 6.2 s; a reconnect 40 s later stalls writes for 20 s.
  const events: Event[] = [{ k: 'sentinel-event', t: T0 + 3_500, pod: 'sentinel-0', event: '+odown', msg: '' },
    { k: 'sentinel-event', t: T0 + 6_000, pod: 'sentinel-0', event: '+switch-master', msg: 'mymaster a 6379 b 6379' }];
  for (let t = -1_000, seq = 0; t < 70_000; t += 100, seq++) if (t < 40_000 || t > 60_000) if (t < 5_900 || t >= 6_200) events.push(op(t, seq, true, 'redis'));
  const ph = phases(events, T0, T0 + 70_000, 'sentinel', 'redis-0', predictedBounds(tier, 'silent'));
  assert.equal(ph.find((p) => p.name === 'first write')!.ms, 6_200);
  // Without a routing phase (the leader kept), the longest gap's end still marks the write phase.
  const kept = phases(events.filter((e) => e.k === 'op'), T0, T0 + 70_000, 'sentinel', 'redis-0', predictedBounds(tier, 'silent'));
  assert.equal(kept.find((p) => p.name === 'first write')!.ms, 60_100);
  assert.is(kept.find((p) => p.name === 'first write')!.boundMs, null, 'no failover: nothing bounds a stall of the kept leader');
  assert.ok(ph.find((p) => p.name === 'first write')!.boundMs! > 6_200);
});
Phases('a node taken away adds its NotReady time', () => {
  const events: Event[] = [...frozenLeader(), { k: 'node', t: T0 + 41_000, node: 'ha-tier-worker', ready: false }];
  const ph = phases(events, T0, T0 + 60_000, 'patroni', 'postgres-0', predictedBounds(tier, 'silent'), { node: 'ha-tier-worker' });
  assert.equal(ph.at(-1), { name: 'node NotReady', ms: 41_000, boundMs: 45_000, exceeded: false });
});
Phases.run();

const Measures = suite('routing, leader changes and Redis split brain');
Measures('the routed primary is stale while it names a pod that is not the writable primary', () => {
  const events: Event[] = [
    { k: 'slice', t: T0 - 1_000, pods: ['postgres-0'] }, { k: 'slice', t: T0 + 3_000, pods: ['postgres-1'] },
    sample(-500, 0, 'pg-writable', 'postgres-0', true), sample(1_000, 1, 'pg-writable', 'postgres-0', false), sample(1_000, 1, 'pg-writable', 'postgres-1', true),
  ];
  assert.equal(routingDisagreement(events, T0, T0 + 5_000), { multiMs: 0, staleMs: 2_000 });
  const two: Event[] = [{ k: 'slice', t: T0, pods: ['postgres-0', 'postgres-1'] }, { k: 'slice', t: T0 + 1_500, pods: ['postgres-1'] }];
  assert.is(routingDisagreement(two, T0, T0 + 5_000).multiMs, 1_500);
});
Measures('leader changes count transitions after the fault, not rounds without a leader', () => {
  const tl = [{ t: T0 - 100, leader: 'a' }, { t: T0 + 100, leader: null }, { t: T0 + 200, leader: 'b' }, { t: T0 + 300, leader: null }, { t: T0 + 400, leader: 'b' }, { t: T0 + 500, leader: 'c' }];
  assert.equal(leaderChanges(tl, T0), { count: 2, leaders: ['b', 'c'] });
  const events = [sample(0, 1, 'patroni', 'postgres-0', 'primary'), sample(0, 1, 'patroni', 'postgres-1', 'replica')];
  assert.equal(leaderChanges(leaderTimeline(events, 'patroni'), T0 - 1).count, 0);
});
Measures('two Redis masters accepting writes in one round are a Redis split brain; a refusing old master is not', () => {
  const events = [
    sample(0, 1, 'redis-writable', 'redis-0', true), sample(0, 1, 'redis-writable', 'redis-1', false),
    sample(250, 2, 'redis-writable', 'redis-0', true), sample(250, 2, 'redis-writable', 'redis-1', true),
    sample(500, 3, 'redis-writable', 'redis-0', false), sample(500, 3, 'redis-writable', 'redis-1', true),
  ];
  assert.equal(splitBrain(events, 'redis-writable').rounds.map((r) => r.r), [2]);
  assert.equal(splitBrain(events).rounds, [], 'the PostgreSQL view is separate');
});
Measures.run();

const Logs = suite('log findings');
Logs('an interrupted switchover and a second postmaster are found; ordinary lines are not', async () => {
  const { logFindings } = await import('../chaos/trial.js');
  const lines = [
    '2026-11-30T15:06:25.056Z patroni-prestop: primary postgres-1 (deletion grace 45): requesting a switchover to the best replica',
    '2026-11-30 15:06:41,369 INFO: Lock owner: postgres-0; I am postgres-1',
    'pg_ctl: could not send reload signal (PID: 86): No such process',
    '2026-11-30T15:06:25.056Z patroni-start: FENCED: patroni lock still held after 120s',
  ];
  const found = logFindings(lines, 'postgres-1', 'pod-delete-force');
  assert.is(found.length, 3);
  assert.match(found[0], 'postgres-1: a switchover was started by a pod that was being force-deleted');
  assert.is(logFindings(lines, 'postgres-1', 'pod-delete').length, 2, 'a graceful delete is meant to hand over');
});
Logs.run();
