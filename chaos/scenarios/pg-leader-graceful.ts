import { Scenario, leaderOf } from './types.js';

export const pgLeaderGraceful: Scenario = {
  name: 'pg-leader-graceful',
  title: 'Patroni leader pod deleted (graceful: preStop switchover, then SIGTERM)',
  system: 'pg', view: 'patroni', force: false, movesLeader: true,
  target: (h) => leaderOf(h, 'patroni'),
};
