/**
 * Kubernetes access shared by the tools (status, chaos) and the cluster tests: the kube context guard,
 * exec into pods, waits that say what they awaited.
 */
import * as k8s from '@kubernetes/client-node';
import { readFileSync } from 'node:fs';
import { Readable, Writable } from 'node:stream';
import { selectorString } from '../contract/index.js';

/** The kind cluster: KIND_CLUSTER_NAME, else the name kind/cluster.yaml gives it (as kind/bootstrap.sh reads it). */
export const CLUSTER_NAME = process.env.KIND_CLUSTER_NAME
  ?? /^name:\s*(\S+)/m.exec(readFileSync(new URL('../kind/cluster.yaml', import.meta.url), 'utf8'))?.[1]
  ?? 'kind';
export const EXPECTED_CONTEXT = `kind-${CLUSTER_NAME}`;

export interface Kube {
  kc: k8s.KubeConfig;
  core: k8s.CoreV1Api;
  apps: k8s.AppsV1Api;
  discovery: k8s.DiscoveryV1Api;
  context: string;
}

/**
 * Loads the kubeconfig and refuses to go on unless it points at the project's kind cluster, or at a
 * context named explicitly in HA_TIER_ALLOW_CONTEXT.
 */
export function connect(): Kube {
  const kc = new k8s.KubeConfig();
  kc.loadFromDefault();
  const context = kc.getCurrentContext();
  if (context !== EXPECTED_CONTEXT && process.env.HA_TIER_ALLOW_CONTEXT !== context) {
    throw new UserError(
      `the kube context is "${context}", not "${EXPECTED_CONTEXT}" (the project's kind cluster); refusing to touch it ` +
        `(run 'npm run up', or set HA_TIER_ALLOW_CONTEXT=${context} to allow this context explicitly)`,
    );
  }
  return {
    kc, context, core: kc.makeApiClient(k8s.CoreV1Api), apps: kc.makeApiClient(k8s.AppsV1Api), discovery: kc.makeApiClient(k8s.DiscoveryV1Api),
  };
}

/** An error whose message is meant for the user as it is (no stack trace). */
export class UserError extends Error {}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
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
    await sleep(intervalMs);
  }
}

export interface ExecResult {
  stdout: string;
  stderr: string;
  ok: boolean;
}

/**
 * Runs `command` in a pod's container and collects its output; `stdin`, when given, is its standard
 * input (how a secret reaches a command: never its argv). Never throws on a non-zero exit.
 *
 * `stdin` is line input: it is sent and then left open, never ended. On the exec protocol Kubernetes
 * 1.28 speaks (v4), the client cannot close only stdin: ending the stream closes the whole channel,
 * and the command's output and exit status are lost. So a command fed here must read lines (etcdctl
 * --interactive=false, `read`), not wait for end of input (`cat`).
 */
export async function execIn(kube: Kube, namespace: string, pod: string, container: string, command: string[], timeoutMs = 20_000, stdin?: string): Promise<ExecResult> {
  const exec = new k8s.Exec(kube.kc);
  let stdout = '';
  let stderr = '';
  const sink = (onData: (s: string) => void) =>
    new Writable({ write(chunk, _enc, cb) { onData(chunk.toString()); cb(); } });
  return await new Promise<ExecResult>((resolve, reject) => {
    let socket: { close(): void } | undefined;
    const timer = setTimeout(() => {
      socket?.close();
      reject(new Error(`exec '${command.join(' ')}' in ${pod} did not finish within ${timeoutMs} ms`));
    }, timeoutMs);
    exec
      .exec(namespace, pod, container, command, sink((s) => (stdout += s)), sink((s) => (stderr += s)), stdin === undefined ? null : openInput(stdin), false, (status) => {
        clearTimeout(timer);
        resolve({ stdout, stderr, ok: status.status === 'Success' });
      })
      .then((ws) => { socket = ws; })
      .catch((err) => {
        clearTimeout(timer);
        reject(err);
      });
  });
}

/** A stream that yields `text` and stays open (see execIn). */
function openInput(text: string): Readable {
  const input = new Readable({ read() { /* nothing more to give; never ends */ } });
  input.push(text);
  return input;
}

export function isNotFound(err: unknown): boolean {
  const e = err as { code?: number; statusCode?: number };
  return e?.code === 404 || e?.statusCode === 404;
}

export function isReady(pod: k8s.V1Pod): boolean {
  return !pod.metadata?.deletionTimestamp && pod.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True';
}

export async function podReady(kube: Kube, namespace: string, name: string): Promise<k8s.V1Pod | undefined> {
  const pod = await kube.core.readNamespacedPod({ name, namespace });
  return isReady(pod) ? pod : undefined;
}

export async function listPods(kube: Kube, namespace: string, selector: Record<string, string>): Promise<k8s.V1Pod[]> {
  const labelSelector = selectorString(selector);
  const pods = (await kube.core.listNamespacedPod({ namespace, labelSelector })).items;
  return pods.sort((a, b) => (a.metadata?.name ?? '').localeCompare(b.metadata?.name ?? '', 'en', { numeric: true }));
}

/** Deletes a namespace and waits until it is gone; "already gone" is fine. */
export async function deleteNamespace(kube: Kube, name: string, timeoutMs = 180_000): Promise<void> {
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
      return isNotFound(err);
    }
  }, 2000);
}

/** The last events and log lines of a pod, for "stuck" messages. */
export async function describeStuckPod(kube: Kube, namespace: string, pod: k8s.V1Pod): Promise<string> {
  const name = pod.metadata?.name ?? '?';
  const events = (await kube.core.listNamespacedEvent({ namespace, fieldSelector: `involvedObject.name=${name}` })).items
    .sort((a, b) => String(a.lastTimestamp ?? a.eventTime ?? '').localeCompare(String(b.lastTimestamp ?? b.eventTime ?? '')))
    .slice(-5)
    .map((e) => `    event: ${e.reason}: ${e.message}`);
  let logs: string[] = [];
  const container = pod.spec?.containers?.[0]?.name;
  if (container) {
    try {
      const text = await kube.core.readNamespacedPodLog({ name, namespace, container, tailLines: 8 });
      logs = String(text).trim().split('\n').filter(Boolean).map((l) => `    log: ${l}`);
    } catch {
      logs = ['    log: (none yet)'];
    }
  }
  const waiting = pod.status?.containerStatuses?.map((c) => c.state?.waiting?.reason).filter(Boolean).join(', ');
  return [`  ${name} on ${pod.spec?.nodeName ?? 'no node'}: phase ${pod.status?.phase}${waiting ? ` (${waiting})` : ''}`, ...events, ...logs].join('\n');
}
