export * from './errors.js';
export * from './common.js';
export * from './etcd.js';
export * from './patroni.js';
export * from './redis.js';
export * from './ha-tier-chart.js';
export * from './profiles.js';
export * from './app.js';
