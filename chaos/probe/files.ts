/**
 * The files the chaos probe reads its credentials from, under PROBE_SECRETS_DIR: chaos/trial.ts mounts
 * exactly these (a projected volume of single Secret keys), the probe reads them.
 */
export const PROBE_FILES = {
  /** The probe's etcd client certificate (etcd user `chaos`) and the tier's CA. */
  etcdDir: 'etcd',
  pgApp: 'pg-app-password',
  pgMonitor: 'pg-monitor-password',
  redisApp: 'redis-app-password',
  redisMonitor: 'redis-monitor-password',
} as const;

/** Where the probe pod mounts them. */
export const PROBE_SECRETS_DIR = '/etc/ha-tier/probe';
