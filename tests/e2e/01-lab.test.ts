/**
 * The lab cluster itself: nodes, DNS of a headless Service's pods, pod networking across nodes,
 * a PVC through the default StorageClass that survives its pod, and a project image loaded with
 * `kind load docker-image`. Runs in a namespace of its own, deleted at the end.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { CLUSTER_NAME, Kube, connect, deleteNamespace, execIn, podReady, progress, waitFor } from './kube.js';

const images = JSON.parse(readFileSync(new URL('../../images/images.json', import.meta.url), 'utf8'));
const IMAGE = `${images.etcd.repository}:${images.etcd.tag}`;
const NS = `lab-e2e-${Date.now().toString(36)}`;

interface Ctx { kube: Kube }
const Lab = suite<Ctx>('lab cluster', {} as Ctx);

/** Builds the image from images/ on the lab's Debian base and loads it with `kind load docker-image`. */
function buildAndLoad(): void {
  const env = { ...process.env, BASE_IMAGE: process.env.BASE_IMAGE ?? 'ha-tier-lab/debian:bookworm' };
  const build = spawnSync('bash', ['images/build.sh', 'etcd'], { encoding: 'utf8', env, timeout: 900_000 });
  if (build.status !== 0) throw new Error(`images/build.sh etcd failed: ${build.stderr.slice(-2000)}`);
  const load = spawnSync('kind', ['load', 'docker-image', IMAGE, '--name', CLUSTER_NAME], { encoding: 'utf8', timeout: 300_000 });
  if (load.status !== 0) throw new Error(`kind load docker-image ${IMAGE} failed: ${load.stderr.slice(-2000)}`);
}

Lab.before(async (ctx) => {
  ctx.kube = connect();
  progress(`building ${IMAGE} from images/etcd and loading it with kind load docker-image`);
  buildAndLoad();
  progress(`namespace ${NS}, probe image ${IMAGE}`);
  await ctx.kube.core.createNamespace({ body: { metadata: { name: NS, labels: { 'ha-tier.dev/test': 'lab' } } } });
  await ctx.kube.core.createNamespacedService({
    namespace: NS,
    body: {
      metadata: { name: 'probe' },
      spec: { clusterIP: 'None', publishNotReadyAddresses: true, selector: { app: 'probe' }, ports: [{ name: 'http', port: 2379 }] },
    },
  });
  // Two pods on different workers, each serving HTTP (a throwaway single-member etcd) and keeping a
  // file on its volume.
  await ctx.kube.apps.createNamespacedStatefulSet({
    namespace: NS,
    body: {
      metadata: { name: 'probe' },
      spec: {
        serviceName: 'probe',
        replicas: 2,
        podManagementPolicy: 'Parallel',
        selector: { matchLabels: { app: 'probe' } },
        template: {
          metadata: { labels: { app: 'probe' } },
          spec: {
            securityContext: { runAsNonRoot: true, runAsUser: 10001, fsGroup: 10001, seccompProfile: { type: 'RuntimeDefault' } },
            affinity: { podAntiAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [{ labelSelector: { matchLabels: { app: 'probe' } }, topologyKey: 'kubernetes.io/hostname' }] } },
            terminationGracePeriodSeconds: 2,
            containers: [{
              name: 'probe',
              image: IMAGE,
              imagePullPolicy: 'IfNotPresent',
              command: ['etcd', '--data-dir=/tmp/etcd', '--listen-client-urls=http://0.0.0.0:2379', '--advertise-client-urls=http://127.0.0.1:2379', '--listen-peer-urls=http://127.0.0.1:2380'],
              readinessProbe: { httpGet: { path: '/version', port: 2379 }, periodSeconds: 1 },
              securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } },
              volumeMounts: [{ name: 'data', mountPath: '/data' }, { name: 'tmp', mountPath: '/tmp' }],
            }],
            volumes: [{ name: 'tmp', emptyDir: {} }],
          },
        },
        volumeClaimTemplates: [{ metadata: { name: 'data' }, spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '64Mi' } } } }],
      },
    },
  });
  for (const pod of ['probe-0', 'probe-1']) {
    await waitFor(`pod ${NS}/${pod} to be Ready`, 180_000, () => podReady(ctx.kube, NS, pod));
    progress(`${pod} Ready`);
  }
});

Lab.after(async (ctx) => {
  if (ctx.kube) await deleteNamespace(ctx.kube, NS);
});

Lab(`all nodes of kind cluster "${CLUSTER_NAME}" are Ready, one control plane and three workers`, async ({ kube }) => {
  const nodes = (await kube.core.listNode()).items;
  const ready = nodes.filter((n) => n.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True');
  assert.is(nodes.length, 4, `expected 4 nodes, found ${nodes.map((n) => n.metadata?.name).join(', ')}`);
  assert.is(ready.length, 4, 'every node Ready');
  const workers = nodes.filter((n) => !('node-role.kubernetes.io/control-plane' in (n.metadata?.labels ?? {})));
  assert.is(workers.length, 3);
  assert.ok(nodes.every((n) => n.status?.nodeInfo?.kubeletVersion?.startsWith('v1.28.')), 'Kubernetes v1.28');
});

Lab('cluster DNS resolves a headless Service\'s pod names to their pod IPs', async ({ kube }) => {
  const target = await kube.core.readNamespacedPod({ name: 'probe-1', namespace: NS });
  const fqdn = `probe-1.probe.${NS}.svc.cluster.local`;
  const res = await execIn(kube, NS, 'probe-0', 'probe', ['getent', 'hosts', fqdn]);
  assert.ok(res.ok, `getent hosts ${fqdn} failed: ${res.stderr}`);
  assert.is(res.stdout.trim().split(/\s+/)[0], target.status?.podIP);
});

Lab('pods on different nodes reach each other by stable name', async ({ kube }) => {
  const [a, b] = await Promise.all(['probe-0', 'probe-1'].map((name) => kube.core.readNamespacedPod({ name, namespace: NS })));
  assert.is.not(a.spec?.nodeName, b.spec?.nodeName, 'the probes run on different nodes');
  const res = await execIn(kube, NS, 'probe-0', 'probe', ['curl', '-sS', '--max-time', '5', `http://probe-1.probe.${NS}.svc.cluster.local:2379/version`]);
  assert.ok(res.ok, `curl failed: ${res.stderr}`);
  assert.match(res.stdout, /"etcdserver"/);
});

Lab('a PVC binds through the default StorageClass and its data survives deleting the pod', async ({ kube }) => {
  const pvc = await kube.core.readNamespacedPersistentVolumeClaim({ name: 'data-probe-0', namespace: NS });
  assert.is(pvc.status?.phase, 'Bound');
  assert.is(pvc.spec?.storageClassName, 'standard');
  const marker = `written-${Date.now()}`;
  const write = await execIn(kube, NS, 'probe-0', 'probe', ['sh', '-c', `echo ${marker} > /data/marker`]);
  assert.ok(write.ok, write.stderr);
  const before = await kube.core.readNamespacedPod({ name: 'probe-0', namespace: NS });
  await kube.core.deleteNamespacedPod({ name: 'probe-0', namespace: NS });
  progress('probe-0 deleted; waiting for its replacement');
  await waitFor('a new probe-0 to be Ready', 180_000, async () => {
    const pod = await podReady(kube, NS, 'probe-0');
    return pod && pod.metadata?.uid !== before.metadata?.uid ? pod : undefined;
  });
  const read = await execIn(kube, NS, 'probe-0', 'probe', ['cat', '/data/marker']);
  assert.is(read.stdout.trim(), marker);
});

Lab('an image built from images/ and loaded with kind load runs without any pull', async ({ kube }) => {
  const pod = await kube.core.readNamespacedPod({ name: 'probe-1', namespace: NS });
  const status = pod.status?.containerStatuses?.[0];
  assert.is(status?.image, `docker.io/${IMAGE}`);
  assert.ok(status?.ready);
  const version = await execIn(kube, NS, 'probe-1', 'probe', ['etcd', '--version']);
  assert.match(version.stdout, /etcd Version: 3\.4\./);
});

Lab('kind/lab/thaw.sh thaws a container frozen behind dockerd\'s back (its cgroup frozen, dockerd says running)', () => {
  const name = `thaw-e2e-${Date.now().toString(36)}`;
  const docker = (...args: string[]) => spawnSync('docker', args, { encoding: 'utf8', timeout: 30_000 });
  try {
    assert.is(docker('run', '-d', '--name', name, '--hostname', name, '--entrypoint', 'sleep', IMAGE, '600').status, 0);
    const id = docker('inspect', '-f', '{{.Id}}', name).stdout.trim();
    const v1 = `/sys/fs/cgroup/freezer/docker/${id}/freezer.state`;
    const v2 = `/sys/fs/cgroup/system.slice/docker-${id}.scope/cgroup.freeze`;
    const file = spawnSync('test', ['-f', v1]).status === 0 ? v1 : v2;
    const freeze = spawnSync('bash', ['-c', `echo ${file === v1 ? 'FROZEN' : 1} > ${file}`]);
    assert.is(freeze.status, 0, `could not freeze ${file}`);
    assert.is.not(docker('exec', name, 'true').status, 0, 'a frozen container runs nothing');
    const thaw = spawnSync('bash', ['kind/lab/thaw.sh', name], { encoding: 'utf8', timeout: 150_000 });
    progress(thaw.stderr.trim().split('\n').at(-1) ?? '');
    assert.is(thaw.status, 0, thaw.stderr);
    assert.match(thaw.stderr, 'thawing it directly');
    assert.is(docker('exec', name, 'true').status, 0, 'thawed, it runs commands again');
  } finally {
    docker('rm', '-f', name);
  }
});

Lab('kind/lab/thaw.sh clears dockerd\'s record of a pause that its cgroup no longer has (a pause that timed out half way)', () => {
  const name = `thaw-e2e-${Date.now().toString(36)}`;
  const docker = (...args: string[]) => spawnSync('docker', args, { encoding: 'utf8', timeout: 30_000 });
  try {
    assert.is(docker('run', '-d', '--name', name, '--hostname', name, '--entrypoint', 'sleep', IMAGE, '600').status, 0);
    assert.is(docker('pause', name).status, 0);
    const id = docker('inspect', '-f', '{{.Id}}', name).stdout.trim();
    const v1 = `/sys/fs/cgroup/freezer/docker/${id}/freezer.state`;
    const file = spawnSync('test', ['-f', v1]).status === 0 ? v1 : `/sys/fs/cgroup/system.slice/docker-${id}.scope/cgroup.freeze`;
    assert.is(spawnSync('bash', ['-c', `echo ${file === v1 ? 'THAWED' : 0} > ${file}`]).status, 0);
    assert.match(docker('unpause', name).stderr, 'container not paused', 'dockerd and the cgroup disagree, as the lab saw');
    const thaw = spawnSync('bash', ['kind/lab/thaw.sh', name], { encoding: 'utf8', timeout: 150_000 });
    assert.is(thaw.status, 0, thaw.stderr);
    assert.match(thaw.stderr, 'still records it as paused');
    assert.is(docker('inspect', '-f', '{{.State.Paused}}', name).stdout.trim(), 'false');
    assert.is(docker('exec', name, 'true').status, 0, 'exec works again');
  } finally {
    docker('rm', '-f', name);
  }
});

Lab.run();
