/** The chaos runner's history analysis must flag what it is there to flag. */
import { suite } from 'uvu';
import { readFileSync } from 'node:fs';
import * as assert from 'uvu/assert';
import {
  Event, Op, Sample, leaderChanges, leaderTimeline, lostWrites, parseEvents, splitBrain, stats, timeToNewLeader, writeGap,
} from '../chaos/history.js';

const T0 = 1_700_000_000_000;
const op = (t: number, seq: number, ok = true, s: Op['s'] = 'pg'): Op => ({ k: 'op', t: T0 + t, s, seq, ok, ms: 5 });
const sample = (t: number, r: number, v: Sample['v'], pod: string, value: Sample['value']): Sample => ({ k: 'sample', t: T0 + t, r, v, pod, value });

/** Writes every 50 ms from `from` to `to` (ms after T0), acknowledged unless inside one of `outages`. */
function steadyWrites(from: number, to: number, outages: [number, number][] = [], s: Op['s'] = 'pg'): Op[] {
  const ops: Op[] = [];
  let seq = 0;
  for (let t = from; t <= to; t += 50) ops.push(op(t, seq++, !outages.some(([a, b]) => t > a && t < b), s));
  return ops;
}

const Gap = suite('write gap');
Gap('a gap across the fault is measured from the last ack before it to the first after it', () => {
  const events = steadyWrites(0, 10_000, [[4_000, 6_500]]);
  const g = writeGap(events, 'pg', T0 + 4_020, T0 + 10_000);
  assert.is(g.gapMs, 2_500);
  assert.is(g.from, T0 + 4_000);
  assert.is(g.to, T0 + 6_500);
  assert.is(g.errors, 49);
});
Gap('an outage that starts after the delete call (a hand-over first) still counts', () => {
  const events = steadyWrites(0, 10_000, [[5_000, 6_000]]);
  assert.is(writeGap(events, 'pg', T0 + 3_000, T0 + 10_000).gapMs, 1_000);
});
Gap('no outage: the gap is the write interval', () => {
  assert.is(writeGap(steadyWrites(0, 5_000), 'pg', T0 + 2_010, T0 + 5_000).gapMs, 50);
});
Gap('a client that never recovers has a gap until the end of the window', () => {
  const events = steadyWrites(0, 10_000, [[4_000, 20_000]]);
  assert.is(writeGap(events, 'pg', T0 + 4_010, T0 + 10_000).gapMs, 6_000);
});
Gap('other systems\' writes do not hide a gap', () => {
  const events: Event[] = [...steadyWrites(0, 10_000, [[4_000, 7_000]], 'redis'), ...steadyWrites(0, 10_000, [], 'etcd')];
  assert.is(writeGap(events, 'redis', T0 + 4_010, T0 + 10_000).gapMs, 3_000);
  assert.is(writeGap(events, 'etcd', T0 + 4_010, T0 + 10_000).gapMs, 50);
});
Gap('no ack before the fault: no gap can be measured', () => {
  assert.is(writeGap(steadyWrites(5_000, 6_000), 'pg', T0 + 1_000, T0 + 6_000).gapMs, null);
});
Gap.run();

const Lost = suite('lost writes');
Lost('an acknowledged write missing afterwards is flagged', () => {
  assert.equal(lostWrites([1, 2, 3, 4, 5], [1, 2, 4, 5, 6]), [3]);
});
Lost('unacknowledged writes that happen to be present are not a problem', () => {
  assert.equal(lostWrites([1, 2], [1, 2, 3]), []);
});
Lost.run();

const Split = suite('split brain');
Split('two writable primaries in the same round are flagged', () => {
  const events = [
    sample(0, 1, 'pg-writable', 'postgres-0', true), sample(5, 1, 'pg-writable', 'postgres-1', false),
    sample(250, 2, 'pg-writable', 'postgres-0', true), sample(255, 2, 'pg-writable', 'postgres-1', true),
    sample(500, 3, 'pg-writable', 'postgres-0', null), sample(505, 3, 'pg-writable', 'postgres-1', true),
  ];
  assert.equal(splitBrain(events).rounds, [{ r: 2, t: T0 + 250, pods: ['postgres-0', 'postgres-1'] }]);
});
Split('a clean hand-over (one primary, then none, then another) is not split brain', () => {
  const events = [
    sample(0, 1, 'pg-writable', 'postgres-0', true), sample(1, 1, 'pg-writable', 'postgres-1', false),
    sample(250, 2, 'pg-writable', 'postgres-0', null), sample(251, 2, 'pg-writable', 'postgres-1', false),
    sample(500, 3, 'pg-writable', 'postgres-0', null), sample(501, 3, 'pg-writable', 'postgres-1', true),
  ];
  assert.equal(splitBrain(events).rounds, []);
});
Split.run();

const Leader = suite('time to new leader');
Leader('Patroni: the first round where another member says master', () => {
  const events = [
    sample(0, 1, 'patroni', 'postgres-0', 'master'), sample(0, 1, 'patroni', 'postgres-1', 'replica'),
    sample(1_000, 2, 'patroni', 'postgres-0', null), sample(1_000, 2, 'patroni', 'postgres-1', 'replica'),
    sample(2_000, 3, 'patroni', 'postgres-0', null), sample(2_000, 3, 'patroni', 'postgres-1', 'master'),
  ];
  assert.equal(timeToNewLeader(leaderTimeline(events, 'patroni'), 'postgres-0', T0 + 500), { ms: 1_500, leader: 'postgres-1' });
});
Leader('Sentinel: a new master counts only once a majority of sentinels names it', () => {
  const events = [
    sample(0, 1, 'sentinel', 'sentinel-0', 'redis-0'), sample(0, 1, 'sentinel', 'sentinel-1', 'redis-0'), sample(0, 1, 'sentinel', 'sentinel-2', 'redis-0'),
    sample(1_000, 2, 'sentinel', 'sentinel-0', 'redis-1'), sample(1_000, 2, 'sentinel', 'sentinel-1', 'redis-0'), sample(1_000, 2, 'sentinel', 'sentinel-2', 'redis-0'),
    sample(2_000, 3, 'sentinel', 'sentinel-0', 'redis-1'), sample(2_000, 3, 'sentinel', 'sentinel-1', 'redis-1'), sample(2_000, 3, 'sentinel', 'sentinel-2', 'redis-0'),
  ];
  assert.equal(timeToNewLeader(leaderTimeline(events, 'sentinel'), 'redis-0', T0), { ms: 2_000, leader: 'redis-1' });
});
Leader('a follower delete leaves the leader in place: no new leader', () => {
  const events = [sample(0, 1, 'etcd', 'etcd-0', 'etcd-0'), sample(0, 1, 'etcd', 'etcd-1', 'etcd-0'), sample(900, 2, 'etcd', 'etcd-0', 'etcd-0')];
  assert.equal(timeToNewLeader(leaderTimeline(events, 'etcd'), 'etcd-0', T0 + 100), { ms: null, leader: null });
});
Leader('etcd: members that know no leader (ID 0) are no leader named "0" (seen in a rollout: 2 of 3 between terms)', () => {
  const events = [
    sample(0, 1, 'etcd', 'etcd-0', 'etcd-1'), sample(0, 1, 'etcd', 'etcd-1', 'etcd-1'), sample(0, 1, 'etcd', 'etcd-2', null),
    sample(1_000, 2, 'etcd', 'etcd-0', '0'), sample(1_000, 2, 'etcd', 'etcd-1', '0'), sample(1_000, 2, 'etcd', 'etcd-2', null),
    sample(2_000, 3, 'etcd', 'etcd-0', 'etcd-0'), sample(2_000, 3, 'etcd', 'etcd-1', 'etcd-0'), sample(2_000, 3, 'etcd', 'etcd-2', null),
  ];
  assert.equal(timeToNewLeader(leaderTimeline(events, 'etcd'), 'etcd-1', T0 + 500), { ms: 1_500, leader: 'etcd-0' });
  assert.is(leaderChanges(leaderTimeline(events, 'etcd'), T0 + 500).count, 1);
});
Leader.run();

const Stats = suite('stats and parsing');
Stats('min / median / p95 / max ignore missing values', () => {
  assert.equal(stats([5, 1, null, 3, 2, 4]), { n: 5, min: 1, median: 3, p95: 5, max: 5 });
  assert.equal(stats([2, 4]), { n: 2, min: 2, median: 3, p95: 4, max: 4 });
  assert.equal(stats([]), { n: 0, min: null, median: null, p95: null, max: null });
});
Stats('JSON lines that do not parse are counted, not fatal', () => {
  const { events, bad } = parseEvents('{"k":"ready","t":1}\nnot json\n\n{"k":"done","t":2}\n');
  assert.is(events.length, 2);
  assert.is(bad, 1);
});
Stats.run();

const Recorded = suite('a recorded history (pg-leader-force on the kind lab)');
const recorded = (() => {
  const text = readFileSync(new URL('./fixtures/chaos/pg-leader-force.jsonl', import.meta.url), 'utf8');
  const { events } = parseEvents(text);
  const meta = JSON.parse((events[0] as { msg: string }).msg);
  return { events: events.slice(1), meta };
})();
Recorded('re-analysing it gives the numbers the runner reported', () => {
  const { events, meta } = recorded;
  assert.is(writeGap(events, 'pg', meta.faultAt, meta.faultAt + 12_000).gapMs, meta.writeGapMs);
  assert.equal(timeToNewLeader(leaderTimeline(events, 'patroni'), meta.oldLeader, meta.faultAt), { ms: meta.newLeaderMs, leader: meta.newLeader });
  assert.equal(splitBrain(events).rounds, []);
});
Recorded('every acknowledged write was read back', () => {
  const acked = recorded.events.filter((e): e is Op => e.k === 'op' && e.ok).map((e) => e.seq);
  assert.ok(acked.length > 100);
  assert.equal(lostWrites(acked, acked), []);
});
Recorded('the same history with an old primary still writable during the promotion is flagged as split brain', () => {
  const { events, meta } = recorded;
  const promoted = events.find((e): e is Sample => e.k === 'sample' && e.v === 'pg-writable' && e.pod === meta.newLeader && e.value === true)!;
  const tampered = [...events, { ...promoted, pod: meta.target, value: true }];
  assert.is(splitBrain(tampered).rounds.length, 1);
  assert.equal(splitBrain(tampered).rounds[0].pods, [meta.newLeader, meta.target].sort());
});
Recorded('the same history with one acknowledged write missing on read-back is flagged as a lost write', () => {
  const acked = recorded.events.filter((e): e is Op => e.k === 'op' && e.ok).map((e) => e.seq);
  const victim = acked[Math.floor(acked.length / 2)];
  assert.equal(lostWrites(acked, acked.filter((s) => s !== victim)), [victim]);
});
Recorded.run();
