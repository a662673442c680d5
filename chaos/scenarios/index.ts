/** Every scenario, in the order a full run goes through them. */
import { etcdFollower } from './etcd-follower.js';
import { etcdLeader } from './etcd-leader.js';
import { pgLeaderForce } from './pg-leader-force.js';
import { pgLeaderGraceful } from './pg-leader-graceful.js';
import { pgReplica } from './pg-replica.js';
import { redisMasterForce } from './redis-master-force.js';
import { redisMasterGraceful } from './redis-master-graceful.js';
import { redisReplica } from './redis-replica.js';
import { sentinel } from './sentinel.js';
import type { Scenario } from './types.js';

export type { Scenario } from './types.js';

export const SCENARIOS: readonly Scenario[] = [
  pgLeaderGraceful, pgLeaderForce, pgReplica,
  redisMasterGraceful, redisMasterForce, redisReplica, sentinel,
  etcdLeader, etcdFollower,
];
