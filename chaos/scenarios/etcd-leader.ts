import { Scenario, leaderOf } from './types.js';

export const etcdLeader: Scenario = {
  name: 'etcd-leader',
  title: 'etcd leader pod deleted (graceful: etcd hands leadership over on SIGTERM)',
  system: 'etcd', view: 'etcd', force: false, movesLeader: true,
  target: (h) => leaderOf(h, 'etcd'),
};
