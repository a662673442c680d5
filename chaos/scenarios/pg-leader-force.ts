import { Scenario, leaderOf } from './types.js';

export const pgLeaderForce: Scenario = {
  name: 'pg-leader-force',
  title: 'Patroni leader pod force-deleted (grace period 0)',
  system: 'pg', view: 'patroni', force: true, movesLeader: true,
  target: (h) => leaderOf(h, 'patroni'),
};
