import { Scenario, leaderOf, nonLeader } from './types.js';

export const etcdFollower: Scenario = {
  name: 'etcd-follower',
  title: 'etcd follower pod deleted (graceful)',
  system: 'etcd', view: 'etcd', force: false, movesLeader: false,
  target: (h) => nonLeader(h, 'etcd', leaderOf(h, 'etcd')),
};
