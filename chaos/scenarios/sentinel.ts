import { Scenario, leaderOf } from './types.js';

export const sentinel: Scenario = {
  name: 'sentinel',
  title: 'A Sentinel pod deleted (graceful)',
  system: 'redis', view: 'sentinel', force: false, movesLeader: false,
  target: (h) => {
    leaderOf(h, 'sentinel');
    const pods = h.rows.filter((r) => r.component === 'sentinel').map((r) => r.pod).sort();
    return pods[pods.length - 1];
  },
};
