/** The order of a leader-aware rollout (tools/rollout.ts). */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { rolloutOrder } from '../tools/rollout.js';

test('members that lead nothing go first, by falling ordinal; the leader last', () => {
  assert.equal(rolloutOrder(['postgres-0', 'postgres-1', 'postgres-2'], 'postgres-2'), ['postgres-1', 'postgres-0', 'postgres-2']);
  assert.equal(rolloutOrder(['etcd-0', 'etcd-2', 'etcd-1'], 'etcd-0'), ['etcd-2', 'etcd-1', 'etcd-0']);
});
test('a leader that is already updated is not replaced; without a leader, by falling ordinal', () => {
  assert.equal(rolloutOrder(['redis-0', 'redis-1'], 'redis-2'), ['redis-1', 'redis-0']);
  assert.equal(rolloutOrder(['sentinel-10', 'sentinel-9'], undefined), ['sentinel-10', 'sentinel-9'], 'ordinals compare as numbers');
});
test.run();
