import { Scenario, leaderOf } from './types.js';

export const redisMasterGraceful: Scenario = {
  name: 'redis-master-graceful',
  title: 'Redis master pod deleted (graceful: preStop hand-over, then SIGTERM)',
  system: 'redis', view: 'sentinel', force: false, movesLeader: true,
  target: (h) => leaderOf(h, 'sentinel'),
};
