/**
 * etcd: a statically bootstrapped cluster on stable DNS names, used by Patroni as its DCS (v3 API).
 */
import * as kplus from 'cdk8s-plus-28';
import { Construct } from 'constructs';
import {
  CertificateSpec, COMPONENTS, EtcdUser, MOUNTS, TLS_FILES, etcdClientSecret, podHost, serviceHost,
} from '../contract/index.js';
import { k8s } from '../imports/k8s.js';
import {
  Topology, TOPOLOGIES, ResourceProps, StorageProps, componentLabels, defaultImage, disruptionBudget, namespaceOf,
  secretVolume, service, validateResources, parseQuantity,
} from './common.js';
import { ConfigError, requireInteger, requireOneOf } from './errors.js';
import { httpProbe, memberStatefulSet, tcpProbe } from './workload.js';

export interface EtcdClusterProps {
  /**
   * Number of members. Must be odd; at least 3 when `highAvailability` is on.
   * @default 3
   */
  readonly replicas?: number;
  /**
   * Whether this is an HA layout: refuses fewer than 3 members.
   * @default true
   */
  readonly highAvailability?: boolean;
  /**
   * Container image with `etcd` and `etcdctl`.
   * @default - ha-tier/etcd at the tag in images/images.json
   */
  readonly image?: string;
  /**
   * Each member's data volume.
   * @default { size: '1Gi' } on the cluster's default StorageClass
   */
  readonly storage?: StorageProps;
  /**
   * Requests and limits of the etcd container.
   * @default { cpuRequest: '50m', memoryRequest: '96Mi', memoryLimit: '256Mi' }
   */
  readonly resources?: ResourceProps;
  /**
   * How members are spread over nodes and zones.
   * @default 'host'
   */
  readonly topology?: Topology;
  /**
   * Label sets of the pods allowed to use the client port (2379), e.g. Patroni's pods.
   * @default - only the members themselves
   */
  readonly clientSelectors?: Record<string, string>[];
  /**
   * Seconds a deleted member gets to stop. On SIGTERM a leader hands leadership to a follower.
   * @default 30
   */
  readonly terminationGracePeriodSeconds?: number;
  /**
   * The cluster's DNS domain, part of the members' stable names.
   * @default 'cluster.local'
   */
  readonly clusterDomain?: string;
  /**
   * The backend quota (`--quota-backend-bytes`), a quantity.
   * @default '512Mi'
   */
  readonly quotaBackendBytes?: string;
  /**
   * Raft's heartbeat interval (`--heartbeat-interval`), in ms: how often a leader tells its followers
   * it lives. Set explicitly so that what the chaos runner's bounds assume is what runs.
   * @default 100 (etcd's own default)
   */
  readonly heartbeatIntervalMs?: number;
  /**
   * Raft's election timeout (`--election-timeout`), in ms: a follower that heard no heartbeat for one
   * to two of it (randomised) campaigns. At least 5 heartbeats (etcd refuses less), at most 50 s.
   * @default 1000 (etcd's own default)
   */
  readonly electionTimeoutMs?: number;
  /**
   * Raft's pre-vote (`--pre-vote`): a member asks whether it could win before it raises its term, so
   * a member that restarts or was cut off does not depose a healthy leader when it comes back.
   * Measured without it (rolling-update-etcd, docs/results.md): each member that rejoined after its
   * restart made the leader step down, 3-5 leader changes in one rollout.
   * @default true (etcd 3.5's default; etcd 3.4 ships it off)
   */
  readonly preVote?: boolean;
}

/** etcd's Raft timing, as the members run it (also in the tier's descriptor: the chaos bounds use it). */
export interface EtcdTiming {
  readonly heartbeatIntervalMs: number;
  readonly electionTimeoutMs: number;
  readonly preVote: boolean;
}

/**
 * A StatefulSet of etcd members started in parallel, each bootstrapped statically from the stable
 * names `<pod>.<headless service>` on port 2380. A deleted pod that returns with its volume rejoins as
 * the same member (its data dir already holds the membership), so nothing removes members on stop.
 *
 * Peers and clients talk TLS with client certificates from the tier's CA; with etcd's authentication
 * on (`npm run up` turns it on: tools/reconcile.ts), a client's certificate common name is its etcd
 * user, and each user may touch only the keys it was granted (`allowClients`).
 */
export class EtcdCluster extends Construct {
  /** Name of the StatefulSet (and the prefix of its pods). */
  public readonly name = COMPONENTS.etcd.workload;
  public readonly replicas: number;
  /** `http://<member>:2379` of every member, for clients that want all of them. */
  public readonly clientUrls: string[];
  /** Labels selecting this cluster's pods. */
  public readonly selectorLabels: Record<string, string>;
  public readonly statefulSet: k8s.KubeStatefulSet;
  /** etcd users (one per client, by certificate) and what each may touch; `root` administers. */
  public readonly users: EtcdUser[] = [{ name: 'root', grants: [] }];
  /** The members' certificate (peer and server) and the client certificates of every user. */
  public readonly certificates: CertificateSpec[];
  /** Raft's timing, as rendered into the members' flags. */
  public readonly timing: EtcdTiming;
  private readonly policy: kplus.NetworkPolicy;

  constructor(scope: Construct, id: string, props: EtcdClusterProps = {}) {
    super(scope, id);
    // 1. Validate.
    const owner = `EtcdCluster '${id}'`;
    const replicas = props.replicas ?? 3;
    const ha = props.highAvailability ?? true;
    const topology = requireOneOf(owner, 'topology', props.topology ?? 'host', TOPOLOGIES);
    const resources = props.resources ?? { cpuRequest: '50m', memoryRequest: '96Mi', memoryLimit: '256Mi' };
    const storage = props.storage ?? { size: '1Gi' };
    const grace = props.terminationGracePeriodSeconds ?? 30;
    const domain = props.clusterDomain ?? 'cluster.local';
    const quota = props.quotaBackendBytes ?? '512Mi';
    requireInteger(owner, 'replicas', replicas, 1);
    if (ha && replicas < 3) {
      throw new ConfigError(`${owner}: 'replicas' (${replicas}) must be at least 3 in a highly available layout; use 3 or 5, or turn 'highAvailability' off for a single member.`);
    }
    if (replicas % 2 === 0) {
      throw new ConfigError(`${owner}: 'replicas' (${replicas}) must be odd: an even member count tolerates no more failures than one member fewer; use ${replicas - 1} or ${replicas + 1}.`);
    }
    validateResources(owner, 'resources', resources);
    parseQuantity(owner, 'storage.size', storage.size);
    const quotaBytes = parseQuantity(owner, 'quotaBackendBytes', quota);
    requireInteger(owner, 'terminationGracePeriodSeconds', grace, 0);
    const heartbeat = props.heartbeatIntervalMs ?? 100;
    const election = props.electionTimeoutMs ?? 1000;
    requireInteger(owner, 'heartbeatIntervalMs', heartbeat, 1);
    requireInteger(owner, 'electionTimeoutMs', election, 1, 50_000);
    if (election < 5 * heartbeat) {
      throw new ConfigError(`${owner}: 'electionTimeoutMs' (${election}) must be at least 5 × 'heartbeatIntervalMs' (${heartbeat}), i.e. at least ${5 * heartbeat}: etcd refuses a shorter one.`);
    }
    this.timing = { heartbeatIntervalMs: heartbeat, electionTimeoutMs: election, preVote: props.preVote ?? true };

    // 2. Render etcd's own configuration: its flags.
    const ns = namespaceOf(this);
    const { ports } = COMPONENTS.etcd;
    const host = (i: number) => podHost('etcd', i, ns, domain);
    const members = Array.from({ length: replicas }, (_, i) => i);
    this.replicas = replicas;
    this.clientUrls = members.map((i) => `https://${host(i)}:${ports.client}`);
    const self = `$(POD_NAME).${COMPONENTS.etcd.headlessService}.${ns}.svc.${domain}`;
    const tls = (f: keyof typeof TLS_FILES) => `${MOUNTS.tls}/${TLS_FILES[f]}`;
    const args = [
      '--name=$(POD_NAME)',
      '--data-dir=/var/lib/etcd/data',
      `--listen-client-urls=https://0.0.0.0:${ports.client}`,
      `--advertise-client-urls=https://${self}:${ports.client}`,
      `--listen-peer-urls=https://0.0.0.0:${ports.peer}`,
      `--initial-advertise-peer-urls=https://${self}:${ports.peer}`,
      `--initial-cluster=${members.map((i) => `${this.name}-${i}=https://${host(i)}:${ports.peer}`).join(',')}`,
      '--initial-cluster-state=new',
      `--initial-cluster-token=${ns}-${this.name}`,
      // TLS everywhere, client certificates required; the metrics port (health only, no keys) stays
      // plain HTTP for the kubelet's probes, which present no certificate.
      `--cert-file=${tls('cert')}`, `--key-file=${tls('key')}`, `--trusted-ca-file=${tls('ca')}`, '--client-cert-auth',
      `--peer-cert-file=${tls('cert')}`, `--peer-key-file=${tls('key')}`, `--peer-trusted-ca-file=${tls('ca')}`, '--peer-client-cert-auth',
      // Only a member's own certificate (its common name) may join as a peer, not a client's from the same CA.
      `--peer-cert-allowed-cn=${this.name}`,
      `--listen-metrics-urls=http://0.0.0.0:${ports.metrics}`,
      `--quota-backend-bytes=${Math.round(quotaBytes)}`,
      '--auto-compaction-mode=periodic',
      '--auto-compaction-retention=1h',
      '--logger=zap',
      `--heartbeat-interval=${heartbeat}`,
      `--election-timeout=${election}`,
      `--pre-vote=${this.timing.preVote}`,
    ];

    const names = [
      `*.${COMPONENTS.etcd.headlessService}.${ns}.svc.${domain}`, `*.${COMPONENTS.etcd.headlessService}.${ns}.svc`,
      serviceHost(COMPONENTS.etcd.services.client, ns, domain), `${COMPONENTS.etcd.services.client}.${ns}.svc`, 'localhost',
    ];
    this.certificates = [
      { secret: `${this.name}-tls`, commonName: this.name, dnsNames: names, ipAddresses: ['127.0.0.1'], usage: 'server' },
      { secret: etcdClientSecret('root'), commonName: 'root', dnsNames: [], ipAddresses: [], usage: 'client' },
    ];

    // 3. Build the objects.
    const labels = componentLabels('etcd');
    this.selectorLabels = labels.selector;
    service(this, 'Headless', {
      name: COMPONENTS.etcd.headlessService, labels: labels.all, selector: labels.selector, headless: true,
      ports: [{ name: 'client', port: ports.client }, { name: 'peer', port: ports.peer }],
    });
    service(this, 'Client', {
      name: COMPONENTS.etcd.services.client, labels: labels.all, selector: labels.selector, ports: [{ name: 'client', port: ports.client }],
    });

    this.statefulSet = memberStatefulSet(this, {
      component: 'etcd',
      replicas,
      topology,
      // All members must be up to form the initial quorum: start them together.
      podManagementPolicy: 'Parallel',
      terminationGracePeriodSeconds: grace,
      storage,
      container: {
        image: props.image ?? defaultImage('etcd'),
        command: ['etcd'],
        args,
        // etcdctl in the pod (health, `npm run up`'s user setup) acts as root with its client certificate.
        env: [
          { name: 'ETCDCTL_API', value: '3' },
          { name: 'ETCDCTL_CACERT', value: `${MOUNTS.etcdClient}/${TLS_FILES.ca}` },
          { name: 'ETCDCTL_CERT', value: `${MOUNTS.etcdClient}/${TLS_FILES.cert}` },
          { name: 'ETCDCTL_KEY', value: `${MOUNTS.etcdClient}/${TLS_FILES.key}` },
          { name: 'ETCDCTL_ENDPOINTS', value: `https://127.0.0.1:${ports.client}` },
        ],
        // Started: the member has joined its cluster and serves clients (etcd only opens the
        // client port then). A fresh cluster needs a quorum of members up: allow 5 minutes.
        startupProbe: tcpProbe('client', { periodSeconds: 2, failureThreshold: 150 }),
        // Ready: the member is part of a cluster with a leader and has no alarm.
        readinessProbe: httpProbe('/health', 'metrics', { periodSeconds: 5, timeoutSeconds: 3, failureThreshold: 2 }),
        // Alive: the server accepts connections at all. Not /health, which fails cluster-wide while
        // quorum is lost; restarting healthy members then would only make things worse.
        livenessProbe: tcpProbe('client', { periodSeconds: 10, timeoutSeconds: 5, failureThreshold: 6 }),
        resources,
        volumeMounts: [
          { name: 'data', mountPath: '/var/lib/etcd' },
          { name: 'tls', mountPath: MOUNTS.tls, readOnly: true },
          { name: 'etcd-client', mountPath: MOUNTS.etcdClient, readOnly: true },
        ],
      },
      volumes: [secretVolume('tls', `${this.name}-tls`), secretVolume('etcd-client', etcdClientSecret('root'))],
    });

    disruptionBudget(this, 'Budget', this.name, labels.selector, labels.all);

    // Peers reach each other on 2380; clients (allowClients) reach 2379.
    this.policy = new kplus.NetworkPolicy(this, 'Policy', {
      metadata: { name: this.name, labels: labels.all },
      selector: kplus.Pods.select(this, 'Members', { labels: labels.selector }),
    });
    const peers = kplus.Pods.select(this, 'Peers', { labels: labels.selector });
    this.policy.addIngressRule(peers, [kplus.NetworkPolicyPort.tcp(ports.client), kplus.NetworkPolicyPort.tcp(ports.peer)]);
    (props.clientSelectors ?? []).forEach((sel, i) => this.allowClients(`Clients${i}`, sel));
  }

  /** `host:port` of every member's client endpoint. */
  public get clientEndpoints(): string[] {
    return this.clientUrls.map((u) => u.replace(/^https?:\/\//, ''));
  }

  /**
   * Lets the pods matching `selector` use etcd's client port as etcd user `user`, which may touch only
   * `grants`; the user's client certificate is issued into the Secret `etcdClientSecret(user)`.
   */
  public allowClients(id: string, selector: Record<string, string>, user?: EtcdUser): void {
    this.policy.addIngressRule(kplus.Pods.select(this, id, { labels: selector }), [kplus.NetworkPolicyPort.tcp(COMPONENTS.etcd.ports.client)]);
    if (user && !this.users.some((u) => u.name === user.name)) {
      this.users.push(user);
      this.certificates.push({
        secret: etcdClientSecret(user.name), ...(user.password ? {} : { commonName: user.name }), dnsNames: [], ipAddresses: [], usage: 'client',
      });
    }
  }
}
