/**
 * Building blocks shared by the tier's constructs: labels, quantities and resources, the restricted
 * security context, scheduling (anti-affinity / zone spread), volume claim templates and PDBs.
 * Names and labels come from the contract (contract/index.ts).
 */
import { Chart } from 'cdk8s';
import * as kplus from 'cdk8s-plus-28';
import { Construct } from 'constructs';
import { COMPONENTS, ComponentKey, IMAGE_UID, ImageKey, LABEL, PART_OF, selectorOf } from '../contract/index.js';
import { k8s } from '../imports/k8s.js';
import images from '../images/images.json' with { type: 'json' };
import { ConfigError, show } from './errors.js';

/**
 * How replicas of one component are kept apart.
 * - `none`: no constraint (single node, `minimal` profile);
 * - `host`: required anti-affinity on `kubernetes.io/hostname` (one replica per node: kind's 3 workers);
 * - `zone`: `host` plus a topology spread across `topology.kubernetes.io/zone` (production).
 */
export type Topology = 'none' | 'host' | 'zone';
export const TOPOLOGIES: readonly Topology[] = ['none', 'host', 'zone'];

/** Requests and limits of one container. CPU is requested but not limited (no throttling on failover). */
export interface ResourceProps {
  /** CPU request, e.g. `100m`. */
  readonly cpuRequest: string;
  /** Memory request, e.g. `128Mi`. */
  readonly memoryRequest: string;
  /** Memory limit, e.g. `256Mi`; must be at least the request. */
  readonly memoryLimit: string;
}

/** Storage of one component's volume claim template. */
export interface StorageProps {
  /** Size of each replica's volume, e.g. `1Gi`. */
  readonly size: string;
  /**
   * StorageClass of the claims.
   * @default - the cluster's default StorageClass (`standard` on kind)
   */
  readonly storageClassName?: string;
}

const QUANTITY = /^([+-]?(?:\d+\.?\d*|\.\d+))(?:[eE]([+-]?\d+)|(Ki|Mi|Gi|Ti|Pi|Ei|m|k|M|G|T|P|E))?$/;
const BINARY: Record<string, number> = { Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50, Ei: 2 ** 60 };
const DECIMAL: Record<string, number> = { m: 1e-3, '': 1, k: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, E: 1e18 };

/** Parses a Kubernetes quantity to a number (bytes or cores); throws a ConfigError naming the prop. */
export function parseQuantity(owner: string, prop: string, value: string): number {
  const m = typeof value === 'string' ? QUANTITY.exec(value) : null;
  if (!m) {
    throw new ConfigError(
      `${owner}: '${prop}' (${show(value)}) is not a Kubernetes quantity; use a number with an optional suffix such as 250m, 512Mi or 2Gi.`,
    );
  }
  const scale = m[2] !== undefined ? 10 ** Number(m[2]) : BINARY[m[3] ?? ''] ?? DECIMAL[m[3] ?? ''];
  return Number(m[1]) * scale;
}

export function validateResources(owner: string, prop: string, r: ResourceProps): void {
  parseQuantity(owner, `${prop}.cpuRequest`, r.cpuRequest);
  const request = parseQuantity(owner, `${prop}.memoryRequest`, r.memoryRequest);
  const limit = parseQuantity(owner, `${prop}.memoryLimit`, r.memoryLimit);
  if (limit < request) {
    throw new ConfigError(
      `${owner}: '${prop}.memoryLimit' (${show(r.memoryLimit)}) must be at least '${prop}.memoryRequest' (${show(r.memoryRequest)}).`,
    );
  }
}

export function resourceRequirements(r: ResourceProps): k8s.ResourceRequirements {
  return {
    requests: { cpu: k8s.Quantity.fromString(r.cpuRequest), memory: k8s.Quantity.fromString(r.memoryRequest) },
    limits: { memory: k8s.Quantity.fromString(r.memoryLimit) },
  };
}

/** The default image of a component, from images/images.json (versioned tag, never :latest). */
export function defaultImage(image: ImageKey): string {
  const entry = images[image];
  return `${entry.repository}:${entry.tag}`;
}

/** Where the tier's images come from, for clusters that pull them from a registry (production). */
export interface ImageOptions {
  /**
   * A registry host (with a dot or a port, or `localhost`) and optional path, e.g.
   * `registry.example.com/platform`: every image becomes `<registry>/<repository>:<tag>`.
   * @default - the local names of images/images.json (loaded into kind, never pulled)
   */
  readonly registry?: string;
  /**
   * Per image, the digest it must have (`sha256:` and 64 hex digits): the reference becomes
   * `...:<tag>@<digest>`, and the kubelet runs exactly that build.
   * @default - none: the tag alone
   */
  readonly digests?: Partial<Record<ImageKey, string>>;
}

const REGISTRY = /^(localhost|[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+|[a-z0-9]([a-z0-9-]*[a-z0-9])?:[0-9]{1,5})(:[0-9]{1,5})?(\/[a-z0-9]+([._-][a-z0-9]+)*)*$/;
const DIGEST = /^sha256:[0-9a-f]{64}$/;

/** The reference of an image for `options` (throws ConfigError naming the field and what it allows). */
export function imageReference(image: ImageKey, options: ImageOptions = {}, owner = 'images'): string {
  const { registry, digests = {} } = options;
  if (registry !== undefined && !REGISTRY.test(registry)) {
    throw new ConfigError(`${owner}: 'registry' (${show(registry)}) must be a registry host with a dot or a port, or localhost, and an optional path of lowercase names, e.g. 'registry.example.com/platform' or 'localhost:5000'.`);
  }
  const known = Object.keys(images).filter((k) => !k.startsWith('_'));
  for (const [key, digest] of Object.entries(digests)) {
    if (!known.includes(key)) {
      throw new ConfigError(`${owner}: 'digests' names the image ${show(key)}, which does not exist; images are ${known.join(', ')}.`);
    }
    if (!DIGEST.test(String(digest))) {
      throw new ConfigError(`${owner}: 'digests.${key}' (${show(digest)}) must be 'sha256:' followed by 64 lowercase hexadecimal digits.`);
    }
  }
  const local = defaultImage(image);
  const digest = digests[image];
  return `${registry ? `${registry}/` : ''}${local}${digest ? `@${digest}` : ''}`;
}

/** Recommended labels of a component; `selector` is the part its workload and Services select on. */
export function componentLabels(component: ComponentKey): { selector: Record<string, string>; all: Record<string, string> } {
  const selector = selectorOf(component);
  return { selector, all: { ...selector, [LABEL.component]: COMPONENTS[component].role, [LABEL.partOf]: PART_OF } };
}

/** Pod-level security context meeting Pod Security "restricted". */
export function podSecurityContext(): k8s.PodSecurityContext {
  return {
    runAsNonRoot: true,
    runAsUser: IMAGE_UID,
    runAsGroup: IMAGE_UID,
    fsGroup: IMAGE_UID,
    fsGroupChangePolicy: 'OnRootMismatch',
    seccompProfile: { type: 'RuntimeDefault' },
  };
}

/** Container-level security context meeting Pod Security "restricted", with a read-only root. */
export function containerSecurityContext(): k8s.SecurityContext {
  return {
    runAsNonRoot: true,
    runAsUser: IMAGE_UID,
    runAsGroup: IMAGE_UID,
    allowPrivilegeEscalation: false,
    readOnlyRootFilesystem: true,
    capabilities: { drop: ['ALL'] },
    seccompProfile: { type: 'RuntimeDefault' },
  };
}

/** Affinity and topology spread for `topology`, keyed on the component's selector labels. */
export function scheduling(topology: Topology, selector: Record<string, string>): Pick<k8s.PodSpec, 'affinity' | 'topologySpreadConstraints'> {
  if (topology === 'none') return {};
  const affinity: k8s.Affinity = {
    podAntiAffinity: {
      requiredDuringSchedulingIgnoredDuringExecution: [
        { labelSelector: { matchLabels: selector }, topologyKey: 'kubernetes.io/hostname' },
      ],
    },
  };
  if (topology === 'host') return { affinity };
  return {
    affinity,
    topologySpreadConstraints: [
      {
        maxSkew: 1,
        topologyKey: 'topology.kubernetes.io/zone',
        whenUnsatisfiable: 'DoNotSchedule',
        labelSelector: { matchLabels: selector },
      },
    ],
  };
}

export function volumeClaimTemplate(name: string, storage: StorageProps): k8s.KubePersistentVolumeClaimProps {
  return {
    metadata: { name },
    spec: {
      accessModes: ['ReadWriteOnce'],
      ...(storage.storageClassName ? { storageClassName: storage.storageClassName } : {}),
      resources: { requests: { storage: k8s.Quantity.fromString(storage.size) } },
    },
  };
}

/**
 * A PodDisruptionBudget allowing one voluntary disruption at a time (a quorum of 3 survives one).
 * Raw object: cdk8s-plus-28 has no PodDisruptionBudget.
 */
export function disruptionBudget(scope: Construct, id: string, name: string, selector: Record<string, string>, labels: Record<string, string>): k8s.KubePodDisruptionBudget {
  return new k8s.KubePodDisruptionBudget(scope, id, {
    metadata: { name, labels },
    spec: { maxUnavailable: k8s.IntOrString.fromNumber(1), selector: { matchLabels: selector } },
  });
}

export interface ServicePortSpec {
  readonly name: string;
  readonly port: number;
}

/**
 * A Service over the pods matching `selector`. `headless` services publish not-ready addresses, so
 * peers resolve each other's stable names (`<pod>.<service>`) before they are Ready.
 */
export function service(
  scope: Construct,
  id: string,
  opts: { name: string; labels: Record<string, string>; selector: Record<string, string>; ports: ServicePortSpec[]; headless?: boolean },
): kplus.Service {
  const svc = new kplus.Service(scope, id, {
    metadata: { name: opts.name, labels: opts.labels },
    ...(opts.headless ? { clusterIP: 'None', publishNotReadyAddresses: true } : {}),
    ports: opts.ports.map((p) => ({ name: p.name, port: p.port, targetPort: p.port })),
  });
  for (const [k, v] of Object.entries(opts.selector)) svc.selectLabel(k, v);
  return svc;
}

/** Downward-API environment every pod of the tier gets. */
export function podIdentityEnv(): k8s.EnvVar[] {
  return [
    { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
    { name: 'POD_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
    { name: 'POD_IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
    { name: 'POD_UID', valueFrom: { fieldRef: { fieldPath: 'metadata.uid' } } },
  ];
}

/**
 * The peers a component lets in as clients: pods matching each selector in the tier's namespace and,
 * when `namespaceSelector` is given, pods matching it in every namespace that matches that (clients
 * usually live in namespaces of their own).
 */
export function clientPeers(scope: Construct, id: string, selectors: Record<string, string>[], namespaceSelector?: Record<string, string>): kplus.INetworkPolicyPeer[] {
  return selectors.flatMap((labels, i) => [
    kplus.Pods.select(scope, `${id}${i}`, { labels }),
    ...(namespaceSelector
      ? [kplus.Pods.select(scope, `${id}${i}OtherNamespaces`, { labels, namespaces: kplus.Namespaces.select(scope, `${id}${i}Namespaces`, { labels: namespaceSelector }) })]
      : []),
  ]);
}

/**
 * A volume of a Secret's keys as files, readable by the pod's group (fsGroup, the images' user) and
 * root only: 0440. PostgreSQL accepts a root-owned key file at 0640 or less.
 */
export function secretVolume(name: string, secretName: string): k8s.Volume {
  return { name, secret: { secretName, defaultMode: 0o440 } };
}

/** The namespace every object of `scope`'s chart is synthesized into (stable DNS names include it). */
export function namespaceOf(scope: Construct): string {
  const ns = Chart.of(scope).namespace;
  if (!ns) throw new ConfigError(`${scope.node.path}: the chart must set a 'namespace', because stable DNS names include it.`);
  return ns;
}
