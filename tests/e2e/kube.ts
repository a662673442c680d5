/**
 * Shared helpers of the cluster tests: the kube context guard, waits that say what they awaited,
 * exec into pods, and cleanup that tolerates "already gone".
 */
import * as k8s from '@kubernetes/client-node';
import { Writable } from 'node:stream';

export const CLUSTER_NAME = process.env.KIND_CLUSTER_NAME ?? 'ha-tier';
export const EXPECTED_CONTEXT = `kind-${CLUSTER_NAME}`;

export interface Kube {
  kc: k8s.KubeConfig;
  core: k8s.CoreV1Api;
  apps: k8s.AppsV1Api;
}

/** Loads the kubeconfig and refuses to go on unless it points at the project's kind cluster. */
export function connect(): Kube {
  const kc = new k8s.KubeConfig();
  kc.loadFromDefault();
  const context = kc.getCurrentContext();
  if (context !== EXPECTED_CONTEXT && process.env.HA_TIER_ALLOW_CONTEXT !== context) {
    throw new Error(
      `refusing to run: the kube context is "${context}", not "${EXPECTED_CONTEXT}" (the lab's kind cluster); ` +
        `run 'npm run lab:up' or set HA_TIER_ALLOW_CONTEXT=${context} to allow it explicitly`,
    );
  }
  return { kc, core: kc.makeApiClient(k8s.CoreV1Api), apps: kc.makeApiClient(k8s.AppsV1Api) };
}

export function progress(message: string): void {
  process.stderr.write(`  · ${message}\n`);
}

/** Polls `check` until it returns a value other than undefined/false, or fails naming `what`. */
export async function waitFor<T>(what: string, timeoutMs: number, check: () => Promise<T | undefined | false>, intervalMs = 1000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined && value !== false) return value;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) {
      const why = lastError ? ` (last error: ${(lastError as Error).message ?? lastError})` : '';
      throw new Error(`timed out after ${Math.round(timeoutMs / 1000)}s waiting for ${what}${why}`);
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

export interface ExecResult {
  stdout: string;
  stderr: string;
  ok: boolean;
}

/** Runs `command` in a pod's container and collects its output. */
export async function execIn(kube: Kube, namespace: string, pod: string, container: string, command: string[], timeoutMs = 30_000): Promise<ExecResult> {
  const exec = new k8s.Exec(kube.kc);
  let stdout = '';
  let stderr = '';
  const sink = (onData: (s: string) => void) => new Writable({ write(chunk, _enc, cb) { onData(chunk.toString()); cb(); } });
  return await new Promise<ExecResult>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`exec ${command.join(' ')} in ${pod} did not finish within ${timeoutMs} ms`)), timeoutMs);
    exec
      .exec(namespace, pod, container, command, sink((s) => (stdout += s)), sink((s) => (stderr += s)), null, false, (status) => {
        clearTimeout(timer);
        resolve({ stdout, stderr, ok: status.status === 'Success' });
      })
      .catch((err) => {
        clearTimeout(timer);
        reject(err);
      });
  });
}

export function isNotFound(err: unknown): boolean {
  const e = err as { code?: number; statusCode?: number; body?: unknown };
  return e?.code === 404 || e?.statusCode === 404;
}

/** Deletes a namespace and waits until it is gone; "already gone" is fine. */
export async function deleteNamespace(kube: Kube, name: string, timeoutMs = 120_000): Promise<void> {
  try {
    await kube.core.deleteNamespace({ name });
  } catch (err) {
    if (isNotFound(err)) return;
    throw err;
  }
  await waitFor(`namespace ${name} to be deleted`, timeoutMs, async () => {
    try {
      await kube.core.readNamespace({ name });
      return false;
    } catch (err) {
      return isNotFound(err) ? true : false;
    }
  }, 2000);
}

export async function podReady(kube: Kube, namespace: string, name: string): Promise<k8s.V1Pod | undefined> {
  const pod = await kube.core.readNamespacedPod({ name, namespace });
  const ready = pod.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True';
  return ready && !pod.metadata?.deletionTimestamp ? pod : undefined;
}
