/**
 * `npm run down` (kind/teardown.sh → tools/down.ts [--namespace NS] [--volumes]): deletes the tier in
 * one namespace.
 *   (default)   every object the tier's constructs make for that namespace (rebuilt from the profile
 *               its Namespace records), but the Namespace itself: its Secrets and volumes stay, so the
 *               next `npm run up` finds the data again;
 *   --volumes   the whole namespace, volumes and Secrets included.
 * Only the tier in the namespace named is touched, never what dist/ happens to hold for another.
 */
import * as k8s from '@kubernetes/client-node';
import { parseArgs } from 'node:util';
import { buildApp } from '../charts/app.js';
import { DEFAULT_NAMESPACE, LABEL } from '../contract/index.js';
import { Kube, UserError, connect, deleteNamespace, isNotFound } from './kube.js';

interface KubeObject { apiVersion: string; kind: string; metadata: { name: string; namespace?: string } }

/** The objects of the tier in `namespace` (synthesized in memory), but the Namespace. */
export function tierObjects(profile: string, namespace: string): KubeObject[] {
  const { app } = buildApp({ profile, namespace });
  return app.charts.flatMap((c) => c.toJson() as KubeObject[]).filter((o) => o.kind !== 'Namespace');
}

async function profileOf(kube: Kube, namespace: string): Promise<string | undefined> {
  try {
    const ns = await kube.core.readNamespace({ name: namespace });
    const profile = ns.metadata?.labels?.[LABEL.profile];
    if (!profile) throw new UserError(`namespace ${namespace} has no ${LABEL.profile} label: it holds no tier of this version, so nothing was deleted (--volumes deletes the whole namespace)`);
    return profile;
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

async function main(argv: string[]): Promise<void> {
  const { values } = parseArgs({ args: argv, options: {
    namespace: { type: 'string', default: process.env.HA_TIER_NAMESPACE ?? DEFAULT_NAMESPACE },
    volumes: { type: 'boolean' },
  } });
  const ns = values.namespace!;
  const kube = connect();
  if (values.volumes) {
    process.stderr.write(`deleting namespace ${ns} (workloads, volumes, secrets)\n`);
    await deleteNamespace(kube, ns);
    return;
  }
  const profile = await profileOf(kube, ns);
  if (!profile) {
    process.stderr.write(`namespace ${ns} does not exist: nothing to delete\n`);
    return;
  }
  const objects = tierObjects(profile, ns);
  process.stderr.write(`deleting the tier's ${objects.length} objects in ${ns} (profile ${profile}); volumes and secrets stay (--volumes removes them)\n`);
  const api = k8s.KubernetesObjectApi.makeApiClient(kube.kc);
  for (const o of objects) {
    try {
      await api.delete(o as k8s.KubernetesObject, undefined, undefined, undefined, undefined, 'Foreground');
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  }
  // Wait for the pods, so that a following `npm run up` starts from nothing.
  const deadline = Date.now() + 180_000;
  for (;;) {
    const left = (await kube.core.listNamespacedPod({ namespace: ns, labelSelector: `${LABEL.instance}` })).items.length;
    if (left === 0) break;
    if (Date.now() > deadline) throw new UserError(`${left} pods of the tier were still terminating in ${ns} after 180s`);
    await new Promise((r) => setTimeout(r, 2000));
  }
}

if (process.argv[1]?.endsWith('down.ts')) {
  main(process.argv.slice(2)).catch((err) => {
    console.error(`down: ${err instanceof UserError ? err.message : (err as Error).stack ?? err}`);
    process.exitCode = 2;
  });
}
