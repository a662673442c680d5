/**
 * The runner's hands on the cluster's nodes, for faults Kubernetes has no API for (a crashed process,
 * a frozen or stopped node, a network partition). On kind every node is a local container, reached
 * with `docker` (pause, stop, exec of crictl and iptables in the node). Anywhere else these faults are
 * refused with one sentence: they need the nodes' runtime, which a remote cluster does not lend.
 */
import type * as k8s from '@kubernetes/client-node';
import { execFile, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { UserError } from '../tools/kube.js';

const run = promisify(execFile);
/** The lab's thaw script, shared with `npm run lab:down`. */
const THAW_SCRIPT = fileURLToPath(new URL('../kind/lab/thaw.sh', import.meta.url));

export class KindNodes {
  private constructor(public readonly cluster: string, public readonly nodes: string[]) {}

  /** The kind cluster's nodes, or a UserError saying why these faults cannot run here. */
  static async find(cluster: string, context: string, fault: string): Promise<KindNodes> {
    const refuse = (why: string) => new UserError(`fault ${fault} acts on nodes through their container runtime and works on a kind cluster only: ${why}`);
    if (context !== `kind-${cluster}`) throw refuse(`the kube context is ${context}, not kind-${cluster}`);
    let out: string;
    try {
      ({ stdout: out } = await run('docker', ['ps', '--filter', `label=io.x-k8s.kind.cluster=${cluster}`, '--format', '{{.Names}}'], { timeout: 20_000 }));
    } catch (err) {
      throw refuse(`docker does not answer (${(err as Error).message.split('\n')[0]})`);
    }
    const nodes = out.split('\n').map((s) => s.trim()).filter(Boolean).sort();
    if (nodes.length === 0) throw refuse(`docker runs no node of kind cluster ${cluster}`);
    return new KindNodes(cluster, nodes);
  }

  /** Runs `argv` inside a node container; throws with its stderr on failure. */
  async exec(node: string, argv: string[], timeoutMs = 20_000): Promise<string> {
    try {
      const { stdout } = await run('docker', ['exec', node, ...argv], { timeout: timeoutMs, maxBuffer: 16 << 20 });
      return stdout;
    } catch (err) {
      const e = err as { stderr?: string; message: string };
      throw new Error(`${argv.join(' ')} on ${node}: ${(e.stderr || e.message).trim().split('\n').slice(-1)[0]}`);
    }
  }

  /**
   * Follows a container's log file on its node by descriptor: unlike the API's log stream it keeps
   * reading after the pod object is gone (a force delete), until the container's last line.
   * The `tail` inside the node ends with the exec session: `docker exec` does not stop the command
   * when its client goes, so the command watches its stdin and ends tail at EOF (the runner's
   * `stop`, or the runner gone). Without it, every trial left a `tail -f` on a deleted log file.
   */
  followLog(node: string, pod: k8s.V1Pod, container: string): { lines: string[]; stop(): void } {
    const restarts = pod.status?.containerStatuses?.find((c) => c.name === container)?.restartCount ?? 0;
    const file = `/var/log/pods/${pod.metadata!.namespace}_${pod.metadata!.name}_${pod.metadata!.uid}/${container}/${restarts}.log`;
    const lines: string[] = [];
    let buffer = '';
    const follow = 'tail -n 0 -f "$1" & t=$!; cat >/dev/null; kill "$t"';
    const child = spawn('docker', ['exec', '-i', node, 'sh', '-c', follow, 'follow-log', file], { stdio: ['pipe', 'pipe', 'ignore'] });
    child.stdin.on('error', () => undefined);
    child.stdout.on('data', (chunk: Buffer) => { buffer += chunk.toString(); const parts = buffer.split('\n'); buffer = parts.pop()!; lines.push(...parts); });
    child.on('error', () => undefined);
    return { lines, stop: () => { if (buffer) lines.push(buffer); child.stdin.end(); setTimeout(() => child.kill(), 2000).unref(); } };
  }

  /** Runs `argv` inside a node container with `input` on its stdin. */
  execInput(node: string, argv: string[], input: string, timeoutMs = 20_000): Promise<string> {
    return new Promise((resolve, reject) => {
      const child = execFile('docker', ['exec', '-i', node, ...argv], { timeout: timeoutMs }, (err, stdout, stderr) => {
        if (err) reject(new Error(`${argv.join(' ')} on ${node}: ${(stderr || err.message).trim().split('\n').slice(-1)[0]}`));
        else resolve(stdout);
      });
      child.stdin?.end(input);
    });
  }

  async docker(args: string[], timeoutMs = 60_000): Promise<void> {
    await run('docker', args, { timeout: timeoutMs });
  }

  /** Freezes a node; if the engine fails half way (its cgroup may be left freezing), thaws it and throws. */
  async pause(node: string): Promise<void> {
    try {
      await this.docker(['pause', node]);
    } catch (err) {
      await this.unpause(node).catch(() => undefined);
      throw new Error(`docker pause ${node} failed (${(err as Error).message.split('\n')[0]}); the node was thawed again`);
    }
  }

  /**
   * Thaws a frozen node with kind/lab/thaw.sh: `docker unpause`, tried again, then the node's freezer
   * cgroup directly when dockerd cannot (it has answered "context deadline exceeded" under load).
   * When dockerd is left recording a running node as paused, the script waits (up to 5 min) for it to
   * clear that itself. Throws with the script's own account (which node, and how to thaw it by hand)
   * when nothing worked.
   */
  async unpause(node: string): Promise<void> {
    try {
      await run('bash', [THAW_SCRIPT, node], { timeout: 600_000 });
    } catch (err) {
      const e = err as { stderr?: string; message: string };
      throw new Error(`node ${node} is still frozen: ${(e.stderr || e.message).trim().split('\n').slice(-1)[0]}`);
    }
  }
  /** Stops a node the way a shutdown does: its init gets the stop signal, then SIGKILL after 10 s. */
  stop(nodes: string[]) { return this.docker(['stop', '--time', '10', ...nodes], 120_000); }
  start(nodes: string[]) { return this.docker(['start', ...nodes], 120_000); }

  /** The host PID (in the node's PID namespace) of a pod's container's main process. */
  async containerPid(node: string, pod: string, container: string): Promise<number> {
    const id = (await this.exec(node, ['crictl', 'ps', '-q', '--state', 'running', '--label', `io.kubernetes.pod.name=${pod}`, '--label', `io.kubernetes.container.name=${container}`])).trim().split('\n')[0];
    if (!id) throw new Error(`no running container ${container} of ${pod} on ${node}`);
    const pid = Number((await this.exec(node, ['crictl', 'inspect', '--output', 'go-template', '--template', '{{.info.pid}}', id])).trim());
    if (!Number.isInteger(pid) || pid <= 1) throw new Error(`crictl gave no PID for container ${id} of ${pod}`);
    return pid;
  }
}
