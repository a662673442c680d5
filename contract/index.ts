/**
 * The contract between the tier's manifests and every program that uses them: names, labels, ports,
 * Secrets and what each component means to a client. charts/ builds objects with these names; tools/,
 * chaos/, the in-cluster probe and the router (router/) import them; shell scripts get them through the
 * environment the charts set or through `tier.json`, which `npm run synth` writes beside the
 * manifests (see `TierDescriptor`).
 *
 * Adding a component is mostly an entry in `COMPONENTS` plus its construct under charts/.
 */

/** Label keys. The `app.kubernetes.io/*` ones are Kubernetes' recommended labels. */
export const LABEL = {
  name: 'app.kubernetes.io/name',
  instance: 'app.kubernetes.io/instance',
  component: 'app.kubernetes.io/component',
  partOf: 'app.kubernetes.io/part-of',
  managedBy: 'app.kubernetes.io/managed-by',
  /** On pods (any namespace that is allowed, see `LABEL.clientNamespace`): may use PostgreSQL, Redis and Sentinel. */
  client: 'ha-tier.dev/client',
  /** On a namespace: its pods labelled `LABEL.client` may use the tier. */
  clientNamespace: 'ha-tier.dev/client-namespace',
  /** The chaos runner's in-cluster probe (test tooling; allowed more than a client on the `kind` profile). */
  chaosProbe: 'ha-tier.dev/chaos-probe',
  /** On the tier's Namespace: the profile it was synthesized with (tools rebuild the descriptor from it). */
  profile: 'ha-tier.dev/profile',
} as const;

/**
 * The EndpointSlices behind the selector-less `postgres-primary` and `postgres-replicas` Services. The
 * chart creates them empty; the router (router/) is the only writer of their endpoints, and records the
 * etcd revision its view came from in `ROUTER_REVISION_ANNOTATION`, so that no writer ever replaces a
 * newer view with an older one.
 */
export const ROUTED_SLICES = { primary: 'postgres-primary', replicas: 'postgres-replicas' } as const;
export const ROUTER_REVISION_ANNOTATION = 'ha-tier.dev/dcs-revision';
/** `endpointslice.kubernetes.io/managed-by` of the routed slices. */
export const ROUTER_MANAGER = 'router.ha-tier.dev';

/** `app.kubernetes.io/instance` and `part-of` of everything the tier creates. */
export const PART_OF = 'ha-tier';
/** The namespace the tier lives in unless told otherwise. */
export const DEFAULT_NAMESPACE = 'ha-tier';
/** The numeric non-root user (and group) of every image under images/. */
export const IMAGE_UID = 10001;

/** The client systems the chaos probe writes through, and how a client reaches each. */
export type System = 'pg' | 'redis' | 'etcd';
export const SYSTEMS: readonly System[] = ['pg', 'redis', 'etcd'];

/** A component's own view of who leads it: Patroni's cluster, the Sentinels' master, etcd's raft leader. */
export type LeaderView = 'patroni' | 'sentinel' | 'etcd';

/** Images the project builds, keys of images/images.json. */
export type ImageKey = 'etcd' | 'patroni' | 'redis' | 'router';

export type ComponentKey = 'etcd' | 'postgres' | 'redis' | 'sentinel' | 'router';

export interface ComponentSpec {
  readonly key: ComponentKey;
  /** The workload's name; StatefulSet pods are `<workload>-<ordinal>`. */
  readonly workload: string;
  readonly workloadKind: 'StatefulSet' | 'Deployment';
  /** The main container's name (exec, logs). */
  readonly container: string;
  /** `app.kubernetes.io/component`. */
  readonly role: string;
  readonly image: ImageKey;
  /** Headless Service giving each pod its stable name `<pod>.<headless>.<namespace>.svc.<domain>`. */
  readonly headlessService?: string;
  /** Services clients use. */
  readonly services: Readonly<Record<string, string>>;
  readonly ports: Readonly<Record<string, number>>;
  /** Secret (created at deploy time, never synthesized) and its keys. */
  readonly secret?: { readonly name: string; readonly keys: Readonly<Record<string, string>> };
  /** The client system whose writes this component serves. */
  readonly system?: System;
  /** Whose view names this component's leader, if it has one. */
  readonly leaderView?: LeaderView;
  /** Whether it keeps data on a volume (a PersistentVolumeClaim per pod). */
  readonly stateful: boolean;
}

export const COMPONENTS = {
  etcd: {
    key: 'etcd', workload: 'etcd', workloadKind: 'StatefulSet', container: 'etcd', role: 'dcs', image: 'etcd',
    headlessService: 'etcd-headless', services: { client: 'etcd' },
    ports: { client: 2379, peer: 2380, metrics: 2381 },
    system: 'etcd', leaderView: 'etcd', stateful: true,
  },
  postgres: {
    key: 'postgres', workload: 'postgres', workloadKind: 'StatefulSet', container: 'patroni', role: 'database', image: 'patroni',
    headlessService: 'postgres-headless', services: { primary: 'postgres-primary', replicas: 'postgres-replicas' },
    ports: { postgresql: 5432, patroni: 8008 },
    secret: {
      name: 'postgres-credentials',
      keys: {
        superuser: 'superuser-password', replication: 'replication-password', app: 'app-password', monitor: 'monitor-password', restapi: 'restapi-password',
        etcd: 'etcd-password',
      },
    },
    system: 'pg', leaderView: 'patroni', stateful: true,
  },
  redis: {
    key: 'redis', workload: 'redis', workloadKind: 'StatefulSet', container: 'redis', role: 'cache', image: 'redis',
    headlessService: 'redis-headless', services: {},
    ports: { redis: 6379 },
    secret: {
      name: 'redis-credentials',
      keys: {
        app: 'app-password', replication: 'replication-password', sentinel: 'sentinel-password', admin: 'admin-password', monitor: 'monitor-password',
      },
    },
    system: 'redis', leaderView: 'sentinel', stateful: true,
  },
  sentinel: {
    key: 'sentinel', workload: 'sentinel', workloadKind: 'StatefulSet', container: 'sentinel', role: 'sentinel', image: 'redis',
    headlessService: 'sentinel-headless', services: { client: 'sentinel' },
    ports: { sentinel: 26379 },
    system: 'redis', leaderView: 'sentinel', stateful: true,
  },
  /** Keeps postgres-primary / postgres-replicas pointing at what Patroni's DCS says (router/). */
  router: {
    key: 'router', workload: 'postgres-router', workloadKind: 'Deployment', container: 'router', role: 'routing', image: 'router',
    services: {}, ports: { http: 8080 }, stateful: false,
  },
} as const satisfies Record<ComponentKey, ComponentSpec>;

/** Every component, in the order tools list them. */
export const COMPONENT_KEYS = Object.keys(COMPONENTS) as ComponentKey[];
/** The StatefulSet components: the ones with pods of their own identity and (mostly) data. */
export type MemberComponent = Exclude<ComponentKey, 'router'>;
export const MEMBER_COMPONENTS = COMPONENT_KEYS.filter((k): k is MemberComponent => COMPONENTS[k].workloadKind === 'StatefulSet');

/** The component whose data a client system writes, and the view that names its leader. */
export const SYSTEM_COMPONENT: Readonly<Record<System, MemberComponent>> = { pg: 'postgres', redis: 'redis', etcd: 'etcd' };

/** The selector labels of a component's pods. */
export function selectorOf(component: ComponentKey): Record<string, string> {
  return { [LABEL.name]: COMPONENTS[component].workload, [LABEL.instance]: PART_OF };
}

/** A Kubernetes label selector string (`k=v,k=v`). */
export function selectorString(selector: Record<string, string>): string {
  return Object.entries(selector).map(([k, v]) => `${k}=${v}`).join(',');
}

/** The component a pod of the tier belongs to, from its labels. */
export function componentOfPod(labels: Record<string, string> | undefined): ComponentKey | undefined {
  if (labels?.[LABEL.instance] !== PART_OF) return undefined;
  return COMPONENT_KEYS.find((k) => COMPONENTS[k].workload === labels[LABEL.name]);
}

/** `<pod>.<headless>.<namespace>.svc.<domain>`. */
export function podHost(component: MemberComponent, ordinal: number, namespace: string, clusterDomain = 'cluster.local'): string {
  const c = COMPONENTS[component];
  return `${c.workload}-${ordinal}.${c.headlessService}.${namespace}.svc.${clusterDomain}`;
}

/** A Service's in-cluster name. */
export function serviceHost(service: string, namespace: string, clusterDomain = 'cluster.local'): string {
  return `${service}.${namespace}.svc.${clusterDomain}`;
}

/** The chaos runner's in-cluster probe pod. */
export const CHAOS_PROBE = { pod: 'chaos-probe', container: 'probe', repository: 'ha-tier/chaos-probe', etcdUser: 'chaos' } as const;

/**
 * Where a pod finds what Secrets hold, mounted as files (never environment values of the pod spec):
 * its own certificate (`tls.crt`, `tls.key`, and the tier's `ca.crt`), its etcd client certificate
 * (same file names), and the passwords it needs (one file per key of the credentials Secret).
 */
export const MOUNTS = {
  tls: '/etc/ha-tier/tls',
  etcdClient: '/etc/ha-tier/etcd-client',
  secrets: '/etc/ha-tier/secrets',
} as const;

/** File names inside a certificate Secret (those of `kubernetes.io/tls` plus the CA). */
export const TLS_FILES = { cert: 'tls.crt', key: 'tls.key', ca: 'ca.crt' } as const;

/** The Secret holding the tier's own CA (certificate and key), made once by `npm run up`. */
export const CA_SECRET = 'ha-tier-ca';

/** The Secret of the etcd client certificate of `user` (its common name is the etcd user name). */
export const etcdClientSecret = (user: string) => `etcd-client-${user}`;

/**
 * PostgreSQL: the application's role and database (no superuser, no CREATEROLE), and a monitoring
 * role (pg_monitor: it may read the replication state, nothing of the data).
 */
export const PG_APP = { user: 'app', database: 'app', monitor: 'monitor' } as const;

/**
 * Redis ACL users: the application's (data commands only), replication's, the sentinels', a read-only
 * monitor's (PING, INFO, ROLE) and the tier's own scripts' (admin). The default user is off.
 */
export const REDIS_USERS = { app: 'app', replication: 'replication', sentinel: 'sentinel', admin: 'admin', monitor: 'monitor' } as const;

/** Patroni's REST API user for what changes state (switchover, configuration). */
export const PATRONI_API_USER = 'patroni';

/** A certificate the tier needs, issued by `npm run up` from the tier's CA into a Secret. */
export interface CertificateSpec {
  readonly secret: string;
  /**
   * The subject's common name; absent for a client certificate that must not name an etcd user (etcd
   * refuses requests to its HTTP gateway from a certificate with one): its subject is then
   * `O=ha-tier, OU=<secret>`.
   */
  readonly commonName?: string;
  readonly dnsNames: readonly string[];
  readonly ipAddresses: readonly string[];
  /** A server certificate (serverAuth; also clientAuth for etcd peers) or a client's. */
  readonly usage: 'server' | 'client';
}

/**
 * An etcd user and the key ranges it may touch. A gRPC client authenticates by its client
 * certificate, whose common name is the user's name. A client of etcd's HTTP gateway (Patroni) cannot:
 * etcd ignores certificate names there, so that user has a password, the key `password.key` of the
 * Secret `password.secret`, and a certificate without a common name (it only opens the TLS connection).
 */
export interface EtcdUser {
  readonly name: string;
  readonly grants: readonly { readonly prefix: string; readonly permission: 'read' | 'write' | 'readwrite' }[];
  readonly password?: { readonly secret: string; readonly key: string };
}

/**
 * What a synthesized tier is, as the programs that use it need to know it: written by `npm run synth`
 * as `tier.json` beside the manifests, and built in process by the tools from the same constructs.
 */
export interface TierDescriptor {
  readonly namespace: string;
  readonly profile: string;
  readonly clusterDomain: string;
  /** Replicas and pod names of each StatefulSet. */
  readonly members: Readonly<Record<MemberComponent, { readonly replicas: number; readonly pods: readonly string[] }>>;
  /** Replicas of the postgres router (a Deployment: its pods have generated names). */
  readonly routerReplicas: number;
  /** Every workload, for scripts that wait for rollouts (`kubectl rollout status <kind>/<name>`). */
  readonly workloads: readonly { readonly kind: 'StatefulSet' | 'Deployment'; readonly name: string }[];
  /** The Secrets the tier reads, created at deploy time (never synthesized), with their keys. */
  readonly secrets: readonly { readonly name: string; readonly keys: readonly string[] }[];
  readonly etcd: {
    /** `https://host:2379` of every member. */
    readonly clientUrls: readonly string[];
    /** The users its clients authenticate as (by client certificate), with what each may touch. */
    readonly users: readonly EtcdUser[];
    /** Raft's timing in the members' flags (ms), and whether pre-vote is on. */
    readonly heartbeatIntervalMs: number;
    readonly electionTimeoutMs: number;
    readonly preVote: boolean;
  };
  /** Every certificate the tier's pods mount, issued from the CA in `CA_SECRET`. */
  readonly certificates: readonly CertificateSpec[];
  readonly patroni: {
    readonly scope: string;
    /** The DCS key prefix, e.g. `/service/` (Patroni's `namespace`). */
    readonly dcsPrefix: string;
    /** The settings Patroni keeps in its DCS (`bootstrap.dcs`; `npm run up` applies them to a running cluster). */
    readonly dcs: Readonly<Record<string, unknown>>;
    readonly switchoverOnDelete: boolean;
    readonly terminationGracePeriodSeconds: number;
    /** PostgreSQL role names, and the application's database. */
    readonly users: { readonly superuser: string; readonly replication: string; readonly app: string; readonly database: string };
  };
  readonly redis: {
    readonly masterName: string;
    readonly quorum: number;
    readonly downAfterMilliseconds: number;
    readonly failoverTimeoutMilliseconds: number;
    readonly minReplicasToWrite: number;
    readonly minReplicasMaxLag: number;
    readonly handOverOnDelete: boolean;
    readonly terminationGracePeriodSeconds: number;
  };
  /** Whether the chaos probe may reach etcd and Patroni's REST API (test tooling; not on `production`). */
  readonly chaosProbeAllowed: boolean;
}
