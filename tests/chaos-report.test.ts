/** The chaos report plots and judges what it should (chaos/report.ts). */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { chartData, checkObjectives, etcdSettings, matches, sameRun, summarize } from '../chaos/report.js';
import { trial } from './support/trial.js';

const Chart = suite('writes chart');
Chart('plots the headline client of the trial, whatever the scenario is called (the soak bug)', () => {
  // The old chart guessed the client from the name's prefix: "etcd-quorum-loss" would plot etcd.
  const rows = chartData([trial('etcd-quorum-loss', 'pg')]);
  const perBucket = Math.max(...rows.map((r) => r.acked));
  assert.is(perBucket, 3, 'pg acknowledges 2-3 writes per 250 ms here; etcd would show 5');
});
Chart.run();

const Objectives = suite('objectives');
Objectives('patterns select scenarios by name', () => {
  assert.ok(matches('*-crash', 'pg-leader-crash'));
  assert.ok(matches('*', 'anything'));
  assert.not.ok(matches('pg-*', 'redis-master-crash'));
  assert.not.ok(matches('pg-leader', 'pg-leader-crash'), 'no pattern, no prefix match');
});
Objectives('a leader-change objective is judged on the worst trial', () => {
  const s = summarize([trial('rolling-update-postgres', 'pg'), trial('rolling-update-postgres', 'pg', { leaderChanges: { patroni: 2, sentinel: 0, etcd: 0 } })]);
  const [r] = checkObjectives([{ scenario: 'rolling-update-*', measure: 'leaderChanges.patroni', stat: 'max', max: 1 }], s, 'ha-tier');
  assert.equal([r.actual, r.met], [2, false]);
});
Objectives('lost writes are judged on the worst trial, not on the total over trials', () => {
  // A bounded window of 60 acknowledged Redis writes in each of two trials: each within 100, 120 in all.
  const lost = (redis: number) => ({ lostAcked: { pg: 0, redis, etcd: 0 } });
  const s = summarize([trial('redis-master-sentinel-cut', 'redis', lost(60)), trial('redis-master-sentinel-cut', 'redis', lost(60))]);
  assert.is(s[0].lostAcked.redis, 120, 'the summary shows the total');
  const [r] = checkObjectives([{ scenario: 'redis-master-sentinel-cut', measure: 'lostAcked.redis', stat: 'max', max: 100 }], s, 'ha-tier');
  assert.equal([r.actual, r.met], [60, true]);
  const worse = summarize([trial('redis-master-sentinel-cut', 'redis', lost(20)), trial('redis-master-sentinel-cut', 'redis', lost(101))]);
  assert.equal(checkObjectives([{ scenario: '*', measure: 'lostAcked.redis', stat: 'max', max: 100 }], worse, 'ha-tier').map((o) => [o.actual, o.met]), [[101, false]]);
});
Objectives('a measure a scenario cannot have is skipped only where the objective says so', () => {
  const s = summarize([trial('redis-master-crash', 'redis')]);
  assert.is(s[0].routingLagMs.max, null, 'no PostgreSQL leader change, no routing lag');
  const judged = checkObjectives([{ scenario: '*', measure: 'routingLagMs', stat: 'max', max: 1000 }], s, 'ha-tier');
  assert.equal([judged.length, judged[0].met], [1, false], 'a missing measure is a miss by default');
  assert.equal(checkObjectives([{ scenario: '*', measure: 'routingLagMs', stat: 'max', max: 1000, onlyWhenMeasured: true }], s, 'ha-tier'), []);
});
Objectives.run();

const Resume = suite('--resume');
const plan = { scenarios: ['pg-leader-force', 'etcd-leader'], trials: 10, baselineTrials: null, short: false, sampleMs: 250 };
const setup = { images: 'ha-tier/patroni:4.1.5-pg15-r4', 'ha-tier: Patroni': 'ttl 20' };
const saved = { startedAt: 't', command: 'npm run chaos -- --trials 10', namespace: 'ha-tier', setup, plan };
/** What a run today records: the saved setup and etcd's line (the record predates it: etcd's defaults). */
const now = { ...setup, 'ha-tier: etcd': etcdSettings({ heartbeatIntervalMs: 100, electionTimeoutMs: 1000, preVote: false }) };

Resume('goes on when the plan and the setup are the same', () => {
  sameRun('dir', saved, { ...plan, scenarios: [...plan.scenarios] }, { ...now });
});

Resume('goes on with the same scenarios in another order (the rest taken in the order given now)', () => {
  sameRun('dir', saved, { ...plan, scenarios: [...plan.scenarios].reverse() }, now);
});

Resume('refuses another number of trials, naming the field and both values', () => {
  assert.throws(() => sameRun('dir', saved, { ...plan, trials: 3 }, setup), /trials = 10, this one for 3/);
});

Resume('refuses other scenarios', () => {
  assert.throws(() => sameRun('dir', saved, { ...plan, scenarios: ['pg-leader-force'] }, setup), /scenarios = pg-leader-force, etcd-leader, this one for pg-leader-force;/);
});

Resume('refuses a tier whose images or settings changed', () => {
  assert.throws(() => sameRun('dir', saved, plan, { ...setup, images: 'ha-tier/patroni:4.1.5-pg15-r5' }), /images: was "ha-tier\/patroni:4.1.5-pg15-r4", now "ha-tier\/patroni:4.1.5-pg15-r5"/);
  assert.throws(() => sameRun('dir', saved, plan, { images: setup.images }), /ha-tier: Patroni: was "ttl 20", now "absent"/);
});

Resume("a record made before etcd's line existed measured etcd's defaults: going on with them is allowed, with pre-vote on refused", () => {
  const line = (preVote: boolean) => etcdSettings({ heartbeatIntervalMs: 100, electionTimeoutMs: 1000, preVote });
  sameRun('dir', saved, plan, { ...setup, 'ha-tier: etcd': line(false) });
  assert.throws(() => sameRun('dir', saved, plan, { ...setup, 'ha-tier: etcd': line(true) }), /ha-tier: etcd: was "heartbeat 100 ms, election timeout 1000 ms, pre-vote off", now "[^"]*pre-vote on"/);
});

Resume.run();
