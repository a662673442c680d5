import { Scenario, leaderOf } from './types.js';

export const redisMasterForce: Scenario = {
  name: 'redis-master-force',
  title: 'Redis master pod force-deleted (grace period 0)',
  system: 'redis', view: 'sentinel', force: true, movesLeader: true,
  target: (h) => leaderOf(h, 'sentinel'),
};
