import { Scenario, leaderOf, nonLeader } from './types.js';

export const pgReplica: Scenario = {
  name: 'pg-replica',
  title: 'Patroni replica pod deleted (graceful)',
  system: 'pg', view: 'patroni', force: false, movesLeader: false,
  target: (h) => nonLeader(h, 'postgres', leaderOf(h, 'patroni')),
};
