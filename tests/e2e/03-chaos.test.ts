/**
 * The chaos runner on the lab: a short suite (3 trials of every scenario). Safety is asserted on every
 * trial; the timing objectives are the runner's own verdict (exit 1 with the misses in the report).
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { SCENARIOS } from '../../chaos/scenarios/index.js';
import { progress } from './kube.js';

const TRIALS = Number(process.env.HA_TIER_E2E_CHAOS_TRIALS ?? 3);
const OUT = 'results/chaos-e2e';
const Chaos = suite('chaos runner');

Chaos('refuses to act when the kube context is not the project\'s kind cluster', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ha-tier-ctx-'));
  try {
    const config = readFileSync(process.env.KUBECONFIG ?? join(homedir(), '.kube', 'config'), 'utf8');
    const file = join(dir, 'config');
    writeFileSync(file, config.replaceAll('kind-ha-tier', 'someone-elses-cluster'));
    const res = spawnSync('npx', ['--no-install', 'tsx', 'chaos/run.ts', 'pg-replica', '--trials', '1'], {
      encoding: 'utf8', env: { ...process.env, KUBECONFIG: file }, timeout: 60_000,
    });
    assert.is(res.status, 2);
    assert.match(res.stderr, 'the kube context is "someone-elses-cluster", not "kind-ha-tier"');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

Chaos(`runs every scenario ${TRIALS} times: no acknowledged PostgreSQL or etcd write lost, never two primaries`, () => {
  progress(`npm run chaos -- --trials ${TRIALS} (about ${TRIALS * SCENARIOS.length * 30}s)`);
  const res = spawnSync('npx', ['--no-install', 'tsx', 'chaos/run.ts', '--trials', String(TRIALS), '--out', OUT], {
    encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], timeout: 3_600_000,
  });
  assert.ok(res.status === 0 || res.status === 1, `chaos runner failed (exit ${res.status})`);
  const report = JSON.parse(readFileSync(`${OUT}/report.json`, 'utf8'));
  const trials = report.trials as any[];
  assert.is(trials.length, TRIALS * SCENARIOS.length);
  for (const s of SCENARIOS) {
    const mine = trials.filter((t) => t.scenario === s.name);
    assert.is(mine.length, TRIALS, s.name);
    for (const t of mine) {
      const what = `${s.name} #${t.trial}`;
      assert.equal(t.verified, { pg: true, redis: true, etcd: true }, `${what}: every acknowledged write read back`);
      assert.is(t.lostAcked.pg, 0, `${what}: lost PostgreSQL writes`);
      assert.is(t.lostAcked.etcd, 0, `${what}: lost etcd writes`);
      assert.is(t.splitBrainRounds, 0, `${what}: two writable primaries`);
      assert.ok(t.recoveredMs !== null, `${what}: the tier recovered`);
      assert.ok(t.writeGapMs !== null, `${what}: a write gap was measured`);
      if (s.movesLeader) assert.ok(t.newLeader && t.newLeader !== t.oldLeader, `${what}: a new leader took over`);
      else assert.is(t.newLeader, null, `${what}: the leader stayed`);
      if (s.name === 'redis-master-graceful') assert.is(t.lostAcked.redis, 0, `${what}: the graceful hand-over lost Redis writes`);
    }
  }
  const md = readFileSync(`${OUT}/report.md`, 'utf8');
  assert.match(md, '## Objectives');
  assert.match(readFileSync(`${OUT}/writes.svg`, 'utf8'), /^<svg/);
  // Exit 1 means objectives were missed: the report must say which and by how much.
  if (res.status === 1) assert.match(md, /\*\*missed\*\* by/);
  else assert.not.match(md, /\*\*missed\*\*/);
});

Chaos.run();
