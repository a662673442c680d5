/** Which scenarios a run takes, and in what order (chaos/scenarios.ts chooseScenarios). */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { SCENARIOS, chooseScenarios } from '../chaos/scenarios.js';

const Choose = suite('choosing scenarios');
const names = (positionals: string[], fault?: string) => chooseScenarios(positionals, fault).map((s) => s.name);

Choose('named scenarios run in the order they are named, each once', () => {
  assert.equal(names(['redis-master-crash', 'pg-leader-crash', 'redis-master-crash']), ['redis-master-crash', 'pg-leader-crash']);
});

Choose('a pattern takes its matches in the matrix\'s order; none named, the whole matrix', () => {
  const nodeLoss = SCENARIOS.map((s) => s.name).filter((n) => n.startsWith('pg-leader-node-'));
  assert.ok(nodeLoss.length >= 2);
  assert.equal(names(['etcd-quorum-loss', 'pg-leader-node-*']), ['etcd-quorum-loss', ...nodeLoss]);
  assert.equal(names([]), SCENARIOS.map((s) => s.name));
});

Choose('--fault keeps only that fault\'s scenarios, and an unknown one is named with the allowed values', () => {
  assert.ok(names([], 'crash').every((n) => n.endsWith('-crash')));
  assert.throws(() => names([], 'meteor'), /--fault \(meteor\) must be one of pod-delete, .*crash/);
  assert.throws(() => names(['pg-leader-meteor']), /no scenario matches pg-leader-meteor: use pg-leader-graceful, /);
});

Choose.run();
