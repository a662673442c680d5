/**
 * Which tier lives in a namespace, as the tools need to know it: the descriptor of the constructs it
 * was synthesized from (contract/index.ts: TierDescriptor), rebuilt in process from the profile the
 * tier's Namespace records (`ha-tier.dev/profile`). Nothing is parsed out of the cluster's ConfigMaps.
 */
import { describeTier } from '../charts/app.js';
import { PROFILES } from '../charts/profiles.js';
import { LABEL, TierDescriptor } from '../contract/index.js';
import { Kube, UserError, isNotFound } from './kube.js';

/** The descriptor of the tier in `namespace`; a UserError when there is none. */
export async function loadTier(kube: Kube, namespace: string): Promise<TierDescriptor> {
  let labels: Record<string, string> | undefined;
  try {
    labels = (await kube.core.readNamespace({ name: namespace })).metadata?.labels;
  } catch (err) {
    if (isNotFound(err)) throw new UserError(`namespace ${namespace} does not exist in ${kube.context}; bring the tier up with 'npm run up'`);
    throw err;
  }
  const profile = labels?.[LABEL.profile];
  if (!profile) {
    throw new UserError(`namespace ${namespace} has no ${LABEL.profile} label, so it holds no tier of this version; bring it up with 'npm run up'`);
  }
  if (!(PROFILES as readonly string[]).includes(profile)) {
    throw new UserError(`namespace ${namespace} was synthesized with profile "${profile}", which this version does not know (${PROFILES.join(', ')})`);
  }
  return describeTier({ profile, namespace });
}
