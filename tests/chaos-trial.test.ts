/** Pure parts of a trial (chaos/trial.ts). */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { containerEndedMsAgo } from '../chaos/trial.js';

const Trial = suite('trial');
Trial('a container that never ended is infinitely fresh; one that ended is as old as its last end', () => {
  const now = Date.parse('2026-11-30T17:20:00Z');
  const pod = (finishedAt?: string) => ({ status: { containerStatuses: [{ name: 'patroni', lastState: finishedAt ? { terminated: { finishedAt: new Date(finishedAt) } } : {} }] } }) as any;
  assert.is(containerEndedMsAgo(pod(), 'patroni', now), Infinity);
  assert.is(containerEndedMsAgo(pod('2026-11-30T17:12:00Z'), 'patroni', now), 8 * 60_000);
  assert.is(containerEndedMsAgo(pod('2026-11-30T17:12:00Z'), 'redis', now), Infinity, 'another container');
});
Trial.run();
