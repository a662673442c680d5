/** Cluster-test helpers: the tools' Kubernetes access plus a progress line per step. */
export * from '../../tools/kube.js';

export function progress(message: string): void {
  process.stderr.write(`  · ${message}\n`);
}
