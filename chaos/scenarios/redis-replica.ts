import { Scenario, leaderOf, nonLeader } from './types.js';

export const redisReplica: Scenario = {
  name: 'redis-replica',
  title: 'Redis replica pod deleted (graceful)',
  system: 'redis', view: 'sentinel', force: false, movesLeader: false,
  target: (h) => nonLeader(h, 'redis', leaderOf(h, 'sentinel')),
};
