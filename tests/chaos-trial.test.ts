/** Pure parts of a trial (chaos/trial.ts). */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { containerEndedMsAgo, undisturbedMsAgo } from '../chaos/trial.js';

const Trial = suite('trial');
Trial('a container that never ended is infinitely fresh; one that ended is as old as its last end', () => {
  const now = Date.parse('2026-11-30T17:20:00Z');
  const pod = (finishedAt?: string) => ({ status: { containerStatuses: [{ name: 'patroni', lastState: finishedAt ? { terminated: { finishedAt: new Date(finishedAt) } } : {} }] } }) as any;
  assert.is(containerEndedMsAgo(pod(), 'patroni', now), Infinity);
  assert.is(containerEndedMsAgo(pod('2026-11-30T17:12:00Z'), 'patroni', now), 8 * 60_000);
  assert.is(containerEndedMsAgo(pod('2026-11-30T17:12:00Z'), 'redis', now), Infinity, 'another container');
});
Trial('a follower is as undisturbed as its pod is old and its container has run: a deleted pod\'s replacement counts as fresh', () => {
  const now = Date.parse('2026-11-30T17:20:00Z');
  const pod = (created: string, finishedAt?: string) => ({
    metadata: { creationTimestamp: new Date(created) },
    status: { containerStatuses: [{ name: 'patroni', lastState: finishedAt ? { terminated: { finishedAt: new Date(finishedAt) } } : {} }] },
  }) as any;
  assert.is(undisturbedMsAgo(pod('2026-11-30T17:19:00Z'), 'patroni', now), 60_000, 'replaced a minute ago, never crashed');
  assert.is(undisturbedMsAgo(pod('2026-11-30T16:00:00Z', '2026-11-30T17:15:00Z'), 'patroni', now), 5 * 60_000, 'an old pod whose container crashed');
  assert.is(undisturbedMsAgo(pod('2026-11-30T16:00:00Z'), 'patroni', now), 80 * 60_000);
  assert.is(undisturbedMsAgo({ status: {} } as any, 'patroni', now), Infinity);
});
Trial.run();
