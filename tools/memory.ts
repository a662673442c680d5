/**
 * The tier's memory: the sum of its containers' working sets, from each kubelet's summary API
 * (no metrics-server needed).
 */
import { Kube } from './kube.js';

interface Summary {
  pods?: { podRef: { name: string; namespace: string }; containers?: { name: string; memory?: { workingSetBytes?: number } }[] }[];
}

export async function tierMemory(kube: Kube, namespace: string): Promise<{ totalBytes: number; byPod: Record<string, number> }> {
  const nodes = (await kube.core.listNode()).items.map((n) => n.metadata!.name!);
  const byPod: Record<string, number> = {};
  for (const node of nodes) {
    const raw = await kube.core.connectGetNodeProxyWithPath({ name: node, path: 'stats/summary' });
    const summary = (typeof raw === 'string' ? JSON.parse(raw) : raw) as Summary;
    for (const pod of summary.pods ?? []) {
      if (pod.podRef.namespace !== namespace) continue;
      byPod[pod.podRef.name] = (pod.containers ?? []).reduce((sum, c) => sum + (c.memory?.workingSetBytes ?? 0), 0);
    }
  }
  return { totalBytes: Object.values(byPod).reduce((a, b) => a + b, 0), byPod };
}
