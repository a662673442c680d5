/**
 * The cdk8s app of one tier: a profile, a namespace and (production) a StorageClass in, one chart out.
 * `npm run synth` writes it; the tools build the same app in memory to learn what they talk to.
 */
import { App, YamlOutputType } from 'cdk8s';
import { PART_OF, TierDescriptor } from '../contract/index.js';
import type { ImageOptions } from './common.js';
import { HaTierChart } from './ha-tier-chart.js';
import { profile } from './profiles.js';

export interface TierOptions {
  readonly profile: string;
  /** @default 'ha-tier' */
  readonly namespace?: string;
  /** Production only: StorageClass of every volume. @default - the profile's */
  readonly storageClassName?: string;
  /** Where the images come from (a registry, digests). @default - the local names */
  readonly images?: ImageOptions;
}

/** Builds the app for a profile (throws ConfigError on bad props, before anything is written). */
export function buildApp(opts: TierOptions, outdir?: string): { app: App; chart: HaTierChart } {
  const app = new App({ ...(outdir ? { outdir } : {}), outputFileExtension: '.k8s.yaml', yamlOutputType: YamlOutputType.FILE_PER_CHART });
  const props = profile(opts.profile, { storageClassName: opts.storageClassName });
  const chart = new HaTierChart(app, PART_OF, {
    ...props, profile: opts.profile, ...(opts.namespace ? { namespace: opts.namespace } : {}), ...(opts.images ? { images: opts.images } : {}),
  });
  return { app, chart };
}

/** The descriptor of the tier `opts` describes, without writing anything. */
export function describeTier(opts: TierOptions): TierDescriptor {
  return buildApp(opts).chart.describe();
}
