/**
 * Patroni / PostgreSQL 15: a StatefulSet of Patroni members using etcd (v3 API) as DCS, with a
 * `-primary` Service that follows the leader through a role label and a `-replicas` Service for reads.
 */
import { Yaml } from 'cdk8s';
import * as kplus from 'cdk8s-plus-28';
import { Construct } from 'constructs';
import {
  CertificateSpec, COMPONENTS, MOUNTS, PATRONI_API_USER, PG_APP, TLS_FILES, etcdClientSecret, serviceHost,
} from '../contract/index.js';
import { k8s } from '../imports/k8s.js';
import {
  ResourceProps, StorageProps, Topology, TOPOLOGIES, clientPeers, componentLabels, defaultImage, disruptionBudget,
  namespaceOf, parseQuantity, secretVolume, service, validateResources,
} from './common.js';
import type { EtcdCluster } from './etcd.js';
import { ConfigError, requireInteger, requireOneOf, show } from './errors.js';
import { httpsProbe, memberStatefulSet } from './workload.js';

export interface PatroniClusterProps {
  /** The etcd cluster Patroni keeps its state in (its DCS). Patroni's pods are let into its client port. */
  readonly etcd: EtcdCluster;
  /**
   * Number of Patroni members (1 leader, the rest streaming replicas). At least 3 when
   * `highAvailability` is on.
   * @default 3
   */
  readonly replicas?: number;
  /**
   * Whether this is an HA layout: refuses fewer than 3 members.
   * @default true
   */
  readonly highAvailability?: boolean;
  /**
   * Patroni's `scope`: the cluster name, and the etcd prefix `/service/<scope>/`.
   * @default 'postgres'
   */
  readonly scope?: string;
  /**
   * Container image with Patroni, PostgreSQL 15 and the hook scripts.
   * @default - ha-tier/patroni at the tag in images/images.json
   */
  readonly image?: string;
  /**
   * Leader lock time-to-live in seconds (Patroni `ttl`): how long a leader that can no longer renew its
   * lock (frozen, cut off, on a lost node) keeps it. At least 20: Patroni 4 raises smaller values to 20.
   * @default 20
   */
  readonly ttl?: number;
  /**
   * Seconds between Patroni HA loops (`loop_wait`).
   * @default 2
   */
  readonly loopWait?: number;
  /**
   * Seconds Patroni retries the DCS and PostgreSQL before demoting (`retry_timeout`), at least 3.
   * `loopWait + 2 * retryTimeout` must not exceed `ttl`.
   * @default 4
   */
  readonly retryTimeout?: number;
  /**
   * Synchronous replication (`synchronous_mode`): a commit is acknowledged once a sync standby has it,
   * and only that standby may be promoted, so no acknowledged write is lost on failover.
   * @default true
   */
  readonly synchronousMode?: boolean;
  /**
   * `synchronous_mode_strict`: refuse writes when no sync standby is left (safety over availability).
   * @default false
   */
  readonly synchronousModeStrict?: boolean;
  /**
   * `primary_start_timeout` in seconds: how long a leader whose PostgreSQL crashed (or whose pod came
   * back while it still held the leader key) may try to start it again before the cluster fails over.
   * 0: fail over at once when a healthy synchronous standby can take over (no acknowledged commit is
   * lost in synchronous mode), instead of Patroni's default of 300 s of recovery attempts.
   * @default 0
   */
  readonly primaryStartTimeout?: number;
  /**
   * `failsafe_mode`: when etcd cannot be reached (its quorum is lost), a primary that still reaches every
   * member over the REST API stays primary instead of demoting itself.
   * @default true
   */
  readonly failsafeMode?: boolean;
  /**
   * `maximum_lag_on_failover` in bytes: a replica further behind is not promoted.
   * @default 1048576
   */
  readonly maximumLagOnFailover?: number;
  /**
   * pg_hba.conf lines. The default allows the local socket to the operating-system user of the same
   * name (peer), and over the network only TLS with a SCRAM password, for replication and for every
   * role; anything else over the network is rejected. NetworkPolicies decide who reaches the port.
   * @default - see DEFAULT_PG_HBA
   */
  readonly pgHba?: string[];
  /**
   * Extra PostgreSQL parameters (merged over the defaults in `DEFAULT_PG_PARAMETERS`).
   * @default {}
   */
  readonly parameters?: Record<string, string | number | boolean>;
  /**
   * PostgreSQL superuser name.
   * @default 'postgres'
   */
  readonly superuserUsername?: string;
  /**
   * Replication user name.
   * @default 'replicator'
   */
  readonly replicationUsername?: string;
  /**
   * Secret holding the passwords (keys `superuser-password` and `replication-password`). Created at
   * deploy time (`npm run up`), never synthesized: dist/ holds no password.
   * @default 'postgres-credentials'
   */
  readonly credentialsSecretName?: string;
  /**
   * Whether a deleted leader first hands over to a healthy replica (preStop `POST /switchover`),
   * so a graceful pod delete costs a switchover, not a failover.
   * @default true
   */
  readonly switchoverOnDelete?: boolean;
  /**
   * Each member's data volume.
   * @default { size: '2Gi' } on the cluster's default StorageClass
   */
  readonly storage?: StorageProps;
  /**
   * Requests and limits of the Patroni/PostgreSQL container.
   * @default { cpuRequest: '100m', memoryRequest: '256Mi', memoryLimit: '512Mi' }
   */
  readonly resources?: ResourceProps;
  /**
   * How members are spread over nodes and zones.
   * @default 'host'
   */
  readonly topology?: Topology;
  /**
   * Label sets of pods (besides the members) allowed to connect to PostgreSQL on 5432.
   * @default - only the members themselves
   */
  readonly clientSelectors?: Record<string, string>[];
  /**
   * Labels of the other namespaces whose pods (matching `clientSelectors`) may connect too.
   * @default - clients in the tier's namespace only
   */
  readonly clientNamespaceSelector?: Record<string, string>;
  /**
   * Label sets of pods (besides the members and the router) allowed to read Patroni's REST API on 8008,
   * e.g. the chaos probe that samples each member's role.
   * @default - only the members themselves
   */
  readonly restApiClientSelectors?: Record<string, string>[];
  /**
   * Seconds a deleted member gets for the preStop hand-over plus a clean PostgreSQL shutdown.
   * @default 45
   */
  readonly terminationGracePeriodSeconds?: number;
  /**
   * The cluster's DNS domain, part of the members' stable names (in their certificate).
   * @default 'cluster.local'
   */
  readonly clusterDomain?: string;
}

export const DEFAULT_PG_HBA = [
  'local all all peer',
  'hostssl replication {replication} 0.0.0.0/0 scram-sha-256',
  'hostssl all all 0.0.0.0/0 scram-sha-256',
  'host all all 0.0.0.0/0 reject',
];

export const DEFAULT_PG_PARAMETERS: Record<string, string | number | boolean> = {
  password_encryption: 'scram-sha-256',
  max_connections: 100,
  shared_buffers: '64MB',
  wal_level: 'replica',
  hot_standby: 'on',
  wal_log_hints: 'on',
  max_wal_senders: 10,
  max_replication_slots: 10,
  wal_keep_size: '128MB',
  unix_socket_directories: '/run/postgresql',
  log_destination: 'stderr',
  logging_collector: 'off',
};

/**
 * TLS of every member, in each member's own configuration (not the DCS): a member replaced during an
 * upgrade serves TLS from its first start, whatever the DCS copy says.
 */
export const PG_TLS_PARAMETERS: Record<string, string> = {
  ssl: 'on',
  ssl_min_protocol_version: 'TLSv1.2',
  ssl_cert_file: `${MOUNTS.tls}/${TLS_FILES.cert}`,
  ssl_key_file: `${MOUNTS.tls}/${TLS_FILES.key}`,
  ssl_ca_file: `${MOUNTS.tls}/${TLS_FILES.ca}`,
};

/** The etcd user Patroni logs in as (it may touch only its cluster's keys). */
export const ETCD_USER = 'patroni';

/** Where the PostgreSQL volume is mounted; PGDATA is a subdirectory so lost+found never bothers initdb. */
const DATA_MOUNT = '/var/lib/postgresql/data';

export class PatroniCluster extends Construct {
  /** Labels selecting Patroni's pods (e.g. to let them reach etcd). */
  public static podSelector(): Record<string, string> {
    return componentLabels('postgres').selector;
  }

  public readonly name = COMPONENTS.postgres.workload;
  public readonly credentialsSecretName: string;
  public readonly scope: string;
  public readonly replicas: number;
  public readonly selectorLabels: Record<string, string>;
  public readonly statefulSet: k8s.KubeStatefulSet;
  /** The DCS settings, as written to `bootstrap.dcs` (also applied on a running cluster by `npm run up`). */
  public readonly dcsSettings: Record<string, unknown>;
  private readonly policy: kplus.NetworkPolicy;
  /** Whether a deleted leader hands over first (preStop switchover). */
  public readonly switchoverOnDelete: boolean;
  public readonly terminationGracePeriodSeconds: number;
  public readonly superuserUsername: string;
  public readonly replicationUsername: string;
  /** Patroni's `namespace`: the etcd key prefix of every cluster, `<prefix><scope>/...`. */
  public readonly dcsPrefix = '/service/';
  /** The members' certificate (PostgreSQL and the REST API). */
  public readonly certificates: CertificateSpec[];
  public readonly tlsSecretName: string;

  constructor(scope: Construct, id: string, props: PatroniClusterProps) {
    super(scope, id);
    // 1. Validate.
    const owner = `PatroniCluster '${id}'`;
    const replicas = props.replicas ?? 3;
    const ha = props.highAvailability ?? true;
    const ttl = props.ttl ?? 20;
    const loopWait = props.loopWait ?? 2;
    const retryTimeout = props.retryTimeout ?? 4;
    const maxLag = props.maximumLagOnFailover ?? 1048576;
    const topology = requireOneOf(owner, 'topology', props.topology ?? 'host', TOPOLOGIES);
    const resources = props.resources ?? { cpuRequest: '100m', memoryRequest: '256Mi', memoryLimit: '512Mi' };
    const storage = props.storage ?? { size: '2Gi' };
    const grace = props.terminationGracePeriodSeconds ?? 45;
    const primaryStartTimeout = props.primaryStartTimeout ?? 0;
    this.superuserUsername = props.superuserUsername ?? 'postgres';
    this.replicationUsername = props.replicationUsername ?? 'replicator';
    this.credentialsSecretName = props.credentialsSecretName ?? COMPONENTS.postgres.secret.name;
    this.scope = props.scope ?? 'postgres';
    this.switchoverOnDelete = props.switchoverOnDelete ?? true;
    this.terminationGracePeriodSeconds = grace;

    requireInteger(owner, 'replicas', replicas, 1);
    if (ha && replicas < 3) {
      throw new ConfigError(`${owner}: 'replicas' (${replicas}) must be at least 3 in a highly available layout (one leader and two replicas to fail over to), or turn 'highAvailability' off.`);
    }
    // Patroni's own floors (patroni/config.py: _validate_and_adjust_timeouts): it would raise a
    // smaller value silently, and the tier would then run with settings it does not say.
    requireInteger(owner, 'ttl', ttl, 20);
    requireInteger(owner, 'loopWait', loopWait, 1);
    requireInteger(owner, 'retryTimeout', retryTimeout, 3);
    if (loopWait + 2 * retryTimeout > ttl) {
      throw new ConfigError(
        `${owner}: 'loopWait' + 2 × 'retryTimeout' (${loopWait} + 2 × ${retryTimeout} = ${loopWait + 2 * retryTimeout}) must not exceed 'ttl' (${ttl}), or a leader can lose its lock while it is still retrying.`,
      );
    }
    requireInteger(owner, 'maximumLagOnFailover', maxLag, 0);
    requireInteger(owner, 'primaryStartTimeout', primaryStartTimeout, 0);
    requireInteger(owner, 'terminationGracePeriodSeconds', grace, 0);
    if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(this.scope)) {
      throw new ConfigError(`${owner}: 'scope' (${show(this.scope)}) must be lowercase letters, digits and dashes.`);
    }
    validateResources(owner, 'resources', resources);
    parseQuantity(owner, 'storage.size', storage.size);

    // 2. Render Patroni's own configuration.
    const ns = namespaceOf(this);
    const { ports } = COMPONENTS.postgres;
    const labels = componentLabels('postgres');
    this.selectorLabels = labels.selector;
    this.replicas = replicas;
    this.dcsSettings = {
      ttl,
      loop_wait: loopWait,
      retry_timeout: retryTimeout,
      maximum_lag_on_failover: maxLag,
      synchronous_mode: props.synchronousMode ?? true,
      synchronous_mode_strict: props.synchronousModeStrict ?? false,
      primary_start_timeout: primaryStartTimeout,
      failsafe_mode: props.failsafeMode ?? true,
      postgresql: {
        use_pg_rewind: true,
        use_slots: true,
        parameters: { ...DEFAULT_PG_PARAMETERS, ...(props.parameters ?? {}) },
      },
    };
    const etcdHosts = props.etcd.clientEndpoints;
    const tls = (f: keyof typeof TLS_FILES) => `${MOUNTS.tls}/${TLS_FILES[f]}`;
    const etcdTls = (f: keyof typeof TLS_FILES) => `${MOUNTS.etcdClient}/${TLS_FILES[f]}`;
    // Members verify each other's certificate (and PostgreSQL clients may verify the server's name):
    // the REST API is reached by the members' stable names, which the certificate covers.
    const headless = `${COMPONENTS.postgres.headlessService}.${ns}.svc`;
    const domain = props.clusterDomain ?? 'cluster.local';
    this.tlsSecretName = `${this.name}-tls`;
    this.certificates = [{
      secret: this.tlsSecretName,
      commonName: this.name,
      dnsNames: [`*.${headless}.${domain}`, `*.${headless}`,
        ...Object.values(COMPONENTS.postgres.services).flatMap((svc) => [serviceHost(svc, ns, domain), `${svc}.${ns}.svc`]), 'localhost'],
      ipAddresses: ['127.0.0.1'],
      usage: 'server',
    }];
    const verifyCa = { sslmode: 'verify-ca', sslrootcert: tls('ca') };
    const patroniConfig = {
      scope: this.scope,
      namespace: this.dcsPrefix,
      // TLS; changing anything (switchover, configuration) needs the REST API user's password
      // (PATRONI_RESTAPI_USERNAME/PASSWORD, from the credentials Secret's files: patroni-start).
      restapi: { listen: `0.0.0.0:${ports.patroni}`, certfile: tls('cert'), keyfile: tls('key'), cafile: tls('ca') },
      // How this member calls the others' REST API: TLS, verified against the tier's CA.
      ctl: { cacert: tls('ca') },
      // etcd over TLS with a client certificate, logged in as ETCD_USER (PATRONI_ETCD3_USERNAME/PASSWORD).
      etcd3: { hosts: etcdHosts, protocol: 'https', cacert: etcdTls('ca'), cert: etcdTls('cert'), key: etcdTls('key') },
      bootstrap: {
        dcs: this.dcsSettings,
        initdb: [{ encoding: 'UTF8' }, { locale: 'C.UTF-8' }, 'data-checksums'],
      },
      postgresql: {
        listen: `0.0.0.0:${ports.postgresql}`,
        data_dir: `${DATA_MOUNT}/pgdata`,
        bin_dir: '/usr/lib/postgresql/15/bin',
        // The postmaster holds the data directory's fence lock for its whole life (images/patroni).
        bin_name: { postgres: '/usr/local/bin/postgres-fenced' },
        pgpass: '/tmp/pgpass',
        // Patroni's own queries use the local socket (peer authentication as the superuser).
        use_unix_socket: true,
        parameters: PG_TLS_PARAMETERS,
        // Local pg_hba wins over the DCS copy, so an edit here takes effect on reload.
        pg_hba: (props.pgHba ?? DEFAULT_PG_HBA).map((l) => l.replace('{replication}', this.replicationUsername)),
        // Replication and pg_rewind connect over TLS, verifying the leader's certificate against the CA
        // (not its name: they connect to the leader's pod address).
        authentication: {
          superuser: { username: this.superuserUsername, ...verifyCa },
          replication: { username: this.replicationUsername, ...verifyCa },
        },
      },
      tags: { nofailover: false, noloadbalance: false, clonefrom: false, nosync: false },
    };

    // 3. Build the objects.
    const config = new kplus.ConfigMap(this, 'Config', {
      metadata: { name: `${this.name}-patroni`, labels: labels.all },
    });
    config.addData('patroni.yml', Yaml.stringify(patroniConfig));

    // The preStop hook reads its own pod's deletion (a force delete gets no switchover): get on the
    // members' pods by name, nothing else. Raw Role: cdk8s-plus-28's Role cannot name resources that
    // are not constructs of this app.
    const account = new kplus.ServiceAccount(this, 'Account', {
      metadata: { name: this.name, labels: labels.all },
      automountToken: true,
    });
    const role = new k8s.KubeRole(this, 'PodReaderRole', {
      metadata: { name: `${this.name}-pod-reader`, labels: labels.all },
      rules: [{
        apiGroups: [''], resources: ['pods'], verbs: ['get'],
        resourceNames: Array.from({ length: replicas }, (_, i) => `${this.name}-${i}`),
      }],
    });
    new k8s.KubeRoleBinding(this, 'PodReaderBinding', {
      metadata: { name: `${this.name}-pod-reader`, labels: labels.all },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: role.name },
      subjects: [{ kind: 'ServiceAccount', name: account.name, namespace: ns }],
    });

    const pgPort = [{ name: 'postgresql', port: ports.postgresql }];
    service(this, 'Headless', {
      name: COMPONENTS.postgres.headlessService, labels: labels.all, selector: labels.selector, headless: true,
      ports: [...pgPort, { name: 'patroni', port: ports.patroni }],
    });
    // No selector: the router (charts/router.ts) writes their EndpointSlices from Patroni's state.
    // Raw objects: cdk8s-plus-28's Service always writes a selector.
    for (const [id, name] of [['Primary', COMPONENTS.postgres.services.primary], ['Replicas', COMPONENTS.postgres.services.replicas]] as const) {
      new k8s.KubeService(this, id, {
        metadata: { name, labels: labels.all },
        spec: { type: 'ClusterIP', ports: pgPort.map((p) => ({ ...p, targetPort: k8s.IntOrString.fromNumber(p.port) })) },
      });
    }

    const { keys } = COMPONENTS.postgres.secret;
    const secretFile = (key: string) => `${MOUNTS.secrets}/${key}`;

    this.statefulSet = memberStatefulSet(this, {
      component: 'postgres',
      replicas,
      topology,
      // Patroni elects the leader itself; members need not wait for each other.
      podManagementPolicy: 'Parallel',
      serviceAccountName: account.name,
      terminationGracePeriodSeconds: grace,
      storage,
      container: {
        image: props.image ?? defaultImage('patroni'),
        command: ['/usr/local/bin/patroni-start'],
        env: [
          { name: 'PATRONI_NAME', value: '$(POD_NAME)' },
          { name: 'PATRONI_SCOPE', value: this.scope },
          // The REST API by the stable name its certificate covers (members verify it); PostgreSQL by
          // the pod IP, always current in etcd (the router routes to it; replication verifies the CA).
          { name: 'PATRONI_RESTAPI_CONNECT_ADDRESS', value: `$(POD_NAME).${headless}.${domain}:${ports.patroni}` },
          { name: 'PATRONI_POSTGRESQL_CONNECT_ADDRESS', value: `$(POD_IP):${ports.postgresql}` },
          // Passwords are files; patroni-start hands them to Patroni (it reads these only from its
          // environment or its configuration file).
          { name: 'PATRONI_SUPERUSER_PASSWORD_FILE', value: secretFile(keys.superuser) },
          { name: 'PATRONI_REPLICATION_PASSWORD_FILE', value: secretFile(keys.replication) },
          { name: 'PATRONI_RESTAPI_USERNAME', value: PATRONI_API_USER },
          // Patroni reads the etcd3 user and password from its environment only when another
          // PATRONI_ETCD3_* setting is there too (patroni/config.py): the protocol, as in the file.
          { name: 'PATRONI_ETCD3_PROTOCOL', value: 'https' },
          { name: 'PATRONI_ETCD3_USERNAME', value: ETCD_USER },
          { name: 'PATRONI_ETCD3_PASSWORD_FILE', value: secretFile(keys.etcd) },
          { name: 'PATRONI_RESTAPI_PASSWORD_FILE', value: secretFile(keys.restapi) },
          { name: 'PATRONI_RESTAPI_URL', value: `https://127.0.0.1:${ports.patroni}` },
          { name: 'PATRONI_RESTAPI_CACERT', value: tls('ca') },
          { name: 'PG_APP_USER', value: PG_APP.user },
          { name: 'PG_APP_DATABASE', value: PG_APP.database },
          { name: 'PG_APP_PASSWORD_FILE', value: secretFile(keys.app) },
          { name: 'PG_MONITOR_USER', value: PG_APP.monitor },
          { name: 'PG_MONITOR_PASSWORD_FILE', value: secretFile(keys.monitor) },
          { name: 'PG_SSLROOTCERT', value: tls('ca') },
          { name: 'PGDATA', value: `${DATA_MOUNT}/pgdata` },
          // The hand-over must end well within the grace period; it is skipped when less is left.
          { name: 'SWITCHOVER_TIMEOUT_SECONDS', value: String(Math.max(5, grace - 15)) },
          { name: 'SWITCHOVER_MIN_GRACE_SECONDS', value: String(Math.min(grace, 20)) },
        ],
        // Patroni's REST API answers once its HA loop runs (a replica may still be cloning).
        startupProbe: httpsProbe('/liveness', 'patroni', { periodSeconds: 2, failureThreshold: 90 }),
        // Ready: this member is the leader, or PostgreSQL runs as a replica.
        readinessProbe: httpsProbe('/readiness', 'patroni', { periodSeconds: 3, timeoutSeconds: 2, failureThreshold: 2 }),
        // Alive: Patroni's HA loop has run within ttl (primary) or 2 × ttl (replica). Not PostgreSQL's state,
        // which Patroni itself manages. Three misses 10 s apart, each allowed 5 s: a restart takes a
        // loop stuck for at least 25-30 s, longer than any failover it could be part of, so a busy primary
        // on a 2-vCPU machine (a slow answer, not a stuck loop) is never restarted by it.
        livenessProbe: httpsProbe('/liveness', 'patroni', { periodSeconds: 10, timeoutSeconds: 5, failureThreshold: 3 }),
        ...(this.switchoverOnDelete
          ? { lifecycle: { preStop: { exec: { command: ['/usr/local/bin/patroni-prestop'] } } } }
          : {}),
        resources,
        volumeMounts: [
          { name: 'data', mountPath: DATA_MOUNT },
          { name: 'config', mountPath: '/etc/patroni', readOnly: true },
          { name: 'tmp', mountPath: '/tmp' },
          { name: 'run', mountPath: '/run/postgresql' },
          { name: 'tls', mountPath: MOUNTS.tls, readOnly: true },
          { name: 'etcd-client', mountPath: MOUNTS.etcdClient, readOnly: true },
          { name: 'secrets', mountPath: MOUNTS.secrets, readOnly: true },
        ],
      },
      volumes: [
        { name: 'config', configMap: { name: config.name } },
        secretVolume('tls', this.tlsSecretName),
        secretVolume('etcd-client', etcdClientSecret(ETCD_USER)),
        secretVolume('secrets', this.credentialsSecretName),
        { name: 'tmp', emptyDir: { sizeLimit: k8s.Quantity.fromString('64Mi') } },
        { name: 'run', emptyDir: { sizeLimit: k8s.Quantity.fromString('16Mi') } },
      ],
    });

    disruptionBudget(this, 'Budget', this.name, labels.selector, labels.all);

    // Patroni keeps its state in etcd, under its own prefix only.
    // Patroni talks to etcd's HTTP gateway, where etcd ignores certificate names: it logs in with a password.
    props.etcd.allowClients('PatroniClients', labels.selector, {
      name: ETCD_USER,
      grants: [{ prefix: `${this.dcsPrefix}${this.scope}/`, permission: 'readwrite' }],
      password: { secret: this.credentialsSecretName, key: keys.etcd },
    });

    // PostgreSQL from the members (replication) and from clients; Patroni's REST API between members
    // (a promoting replica checks the others' positions there, a failsafe primary calls them all).
    this.policy = new kplus.NetworkPolicy(this, 'Policy', {
      metadata: { name: this.name, labels: labels.all },
      selector: kplus.Pods.select(this, 'Members', { labels: labels.selector }),
    });
    this.policy.addIngressRule(kplus.Pods.select(this, 'Peers', { labels: labels.selector }),
      [kplus.NetworkPolicyPort.tcp(ports.postgresql), kplus.NetworkPolicyPort.tcp(ports.patroni)]);
    for (const peer of clientPeers(this, 'Clients', props.clientSelectors ?? [], props.clientNamespaceSelector)) {
      this.policy.addIngressRule(peer, [kplus.NetworkPolicyPort.tcp(ports.postgresql)]);
    }
    (props.restApiClientSelectors ?? []).forEach((sel, i) => this.allowRestApiClients(`RestClients${i}`, sel));
  }

  /** Lets the pods matching `selector` reach Patroni's REST API. */
  public allowRestApiClients(id: string, selector: Record<string, string>): void {
    this.policy.addIngressRule(kplus.Pods.select(this, id, { labels: selector }), [kplus.NetworkPolicyPort.tcp(COMPONENTS.postgres.ports.patroni)]);
  }
}
