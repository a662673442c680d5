/** Pointed assertions on the synthesized manifests: the properties the tier depends on. */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Testing } from 'cdk8s';
import { HaTierChart, profile } from '../charts/index.js';
import { LABEL, ROUTED_SLICES, ROUTER_MANAGER } from '../contract/index.js';

const LABEL_CLIENT = LABEL.client;
import type { KubeObject } from './support/schema.js';
import { PROFILE_NAMES, find, objectsOf, synthProfile } from './support/synth.js';

const kind = synthProfile('kind');
const sts = (objs: KubeObject[]) => objs.filter((o) => o.kind === 'StatefulSet') as any[];
const matches = (selector: Record<string, string>, labels: Record<string, string> = {}) =>
  Object.entries(selector).every(([k, v]) => labels[k] === v);
const env = (container: any, name: string) => container.env.find((e: any) => e.name === name);

const Names = suite('names and layout');
Names('object names are stable (they are part of the public contract)', () => {
  const names = kind.map((o) => `${o.kind}/${o.metadata.name}`).sort();
  assert.equal(names, [
    'ConfigMap/postgres-patroni', 'ConfigMap/redis', 'Deployment/postgres-router',
    'EndpointSlice/postgres-primary', 'EndpointSlice/postgres-replicas', 'Namespace/ha-tier',
    'NetworkPolicy/default-deny-ingress', 'NetworkPolicy/etcd', 'NetworkPolicy/postgres', 'NetworkPolicy/redis', 'NetworkPolicy/sentinel',
    'PodDisruptionBudget/etcd', 'PodDisruptionBudget/postgres', 'PodDisruptionBudget/postgres-router', 'PodDisruptionBudget/redis',
    'PodDisruptionBudget/sentinel',
    'Role/postgres-pod-reader', 'Role/postgres-router', 'RoleBinding/postgres-pod-reader', 'RoleBinding/postgres-router',
    'Service/etcd', 'Service/etcd-headless', 'Service/postgres-headless', 'Service/postgres-primary', 'Service/postgres-replicas',
    'Service/redis-headless', 'Service/sentinel', 'Service/sentinel-headless',
    'ServiceAccount/postgres', 'ServiceAccount/postgres-router',
    'StatefulSet/etcd', 'StatefulSet/postgres', 'StatefulSet/redis', 'StatefulSet/sentinel',
  ]);
});
Names('the Namespace comes first and enforces Pod Security "restricted"; everything else lives in it', () => {
  assert.is(kind[0].kind, 'Namespace');
  assert.is(kind[0].metadata.labels?.['pod-security.kubernetes.io/enforce'], 'restricted');
  assert.ok(kind.slice(1).every((o) => o.metadata.namespace === 'ha-tier'));
});
Names('no Secret is synthesized; Secrets reach containers only as files, never as environment values', () => {
  assert.not.ok(kind.some((o) => o.kind === 'Secret'));
  const text = JSON.stringify(kind);
  assert.not.match(text, /requirepass|masterauth|auth-pass/i);
  assert.not.match(text, /secretKeyRef/, 'no environment variable takes a Secret\'s value');
  let files = 0;
  for (const s of sts(kind)) {
    const pod = s.spec.template.spec;
    const secretMounts = new Map<string, string>();
    for (const c of pod.containers) {
      for (const m of c.volumeMounts ?? []) {
        const v = pod.volumes.find((x: any) => x.name === m.name);
        if (v?.secret) {
          secretMounts.set(m.mountPath, v.secret.secretName);
          assert.is(v.secret.defaultMode, 0o440, `${s.metadata.name}/${v.name}: readable by the pod's group only`);
          assert.ok(m.readOnly, `${s.metadata.name}/${m.name} is mounted read-only`);
        }
      }
      for (const e of (c.env ?? []).filter((x: any) => /PASSWORD/.test(x.name))) {
        assert.match(e.name, /_FILE$/, `${s.metadata.name}/${e.name} names a file`);
        const dir = [...secretMounts.keys()].find((d) => e.value.startsWith(`${d}/`));
        assert.ok(dir, `${s.metadata.name}/${e.name} (${e.value}) is under a mounted Secret`);
        files++;
      }
    }
  }
  assert.ok(files >= 5, `the password files are named (${files})`);
});
Names.run();

const Workloads = suite('StatefulSets');
for (const name of PROFILE_NAMES) {
  const objs = name === 'kind' ? kind : synthProfile(name);
  Workloads(`${name}: every StatefulSet's selector matches its pods, its serviceName is a headless Service over them`, () => {
    for (const s of sts(objs)) {
      const podLabels = s.spec.template.metadata.labels;
      assert.ok(matches(s.spec.selector.matchLabels, podLabels), `${s.metadata.name} selector`);
      const headless = find(objs, 'Service', s.spec.serviceName);
      assert.is(headless.spec.clusterIP, 'None');
      assert.is(headless.spec.publishNotReadyAddresses, true);
      assert.ok(matches(headless.spec.selector, podLabels), `${headless.metadata.name} selects ${s.metadata.name}`);
    }
  });
  Workloads(`${name}: every StatefulSet has a PodDisruptionBudget over exactly its pods`, () => {
    for (const s of sts(objs)) {
      const pdbs = objs.filter((o: any) => o.kind === 'PodDisruptionBudget' && matches(o.spec.selector.matchLabels, s.spec.template.metadata.labels));
      assert.is(pdbs.length, 1, `${s.metadata.name} has one PDB`);
      assert.is((pdbs[0] as any).spec.maxUnavailable, 1);
    }
  });
  Workloads(`${name}: every container has startup, readiness and liveness probes, requests and a memory limit`, () => {
    for (const s of sts(objs)) {
      for (const c of s.spec.template.spec.containers) {
        for (const p of ['startupProbe', 'readinessProbe', 'livenessProbe']) assert.ok(c[p], `${s.metadata.name}/${c.name} ${p}`);
        assert.ok(c.resources.requests.cpu && c.resources.requests.memory, `${c.name} requests`);
        assert.ok(c.resources.limits.memory, `${c.name} memory limit`);
        assert.is(c.resources.limits.cpu, undefined, 'no CPU limit: throttling would slow failover');
        assert.not.match(c.image, /:latest$|^[^:]+$/, 'images carry a versioned tag');
      }
    }
  });
  Workloads(`${name}: pods meet Pod Security "restricted" (non-root numeric user, fsGroup, no capabilities, seccomp)`, () => {
    for (const s of sts(objs)) {
      const pod = s.spec.template.spec;
      assert.is(pod.securityContext.runAsNonRoot, true);
      assert.type(pod.securityContext.runAsUser, 'number');
      assert.ok(pod.securityContext.runAsUser > 0);
      assert.type(pod.securityContext.fsGroup, 'number');
      assert.is(pod.securityContext.seccompProfile.type, 'RuntimeDefault');
      for (const c of pod.containers) {
        assert.is(c.securityContext.allowPrivilegeEscalation, false);
        assert.equal(c.securityContext.capabilities.drop, ['ALL']);
        assert.is(c.securityContext.capabilities.add, undefined);
        assert.is(c.securityContext.readOnlyRootFilesystem, true);
      }
      for (const v of pod.volumes ?? []) assert.ok(v.configMap || v.emptyDir || v.secret, `volume ${v.name} type allowed`);
    }
  });
}
Workloads('every StatefulSet is OnDelete: npm run up replaces members leader last (one leader change per rollout)', () => {
  for (const s of sts(kind)) assert.equal(s.spec.updateStrategy, { type: 'OnDelete' }, s.metadata.name);
});
Workloads('etcd, PostgreSQL, Redis and Sentinel keep their state in volumeClaimTemplates on the standard class (kind)', () => {
  for (const n of ['etcd', 'postgres', 'redis', 'sentinel']) {
    const vct = find(kind, 'StatefulSet', n).spec.volumeClaimTemplates;
    assert.is(vct.length, 1);
    assert.is(vct[0].spec.storageClassName, 'standard');
  }
  const sentinel = find(kind, 'StatefulSet', 'sentinel').spec.template.spec.containers[0];
  assert.ok(sentinel.volumeMounts.some((m: any) => m.name === 'data' && m.mountPath === '/data'), 'Sentinel keeps its config (its state) on its volume');
});
Workloads.run();

const Scheduling = suite('scheduling per profile');
Scheduling('kind: 3 of each, one per node (required anti-affinity on hostname)', () => {
  for (const s of sts(kind)) {
    assert.is(s.spec.replicas, 3);
    const [term] = s.spec.template.spec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution;
    assert.is(term.topologyKey, 'kubernetes.io/hostname');
    assert.equal(term.labelSelector.matchLabels, s.spec.selector.matchLabels);
  }
});
Scheduling('production: spread over zones as well as nodes, on the production storage class, with larger resources', () => {
  const prod = synthProfile('production');
  for (const s of sts(prod)) {
    const [spread] = s.spec.template.spec.topologySpreadConstraints;
    assert.is(spread.topologyKey, 'topology.kubernetes.io/zone');
    assert.is(spread.whenUnsatisfiable, 'DoNotSchedule');
    assert.ok(s.spec.template.spec.affinity.podAntiAffinity);
  }
  assert.is(find(prod, 'StatefulSet', 'postgres').spec.template.spec.containers[0].resources.limits.memory, '4Gi');
});
Scheduling('minimal: one of each, no placement constraint, a quorum of one sentinel', () => {
  const min = synthProfile('minimal');
  for (const s of sts(min)) {
    assert.is(s.spec.replicas, 1);
    assert.is(s.spec.template.spec.affinity, undefined);
  }
  assert.is(env(find(min, 'StatefulSet', 'sentinel').spec.template.spec.containers[0], 'SENTINEL_QUORUM').value, '1');
});
Scheduling.run();

const Components = suite('component wiring');
Components('etcd bootstraps statically on stable DNS names, in parallel, without member removal on stop', () => {
  const s = find(kind, 'StatefulSet', 'etcd');
  const args: string[] = s.spec.template.spec.containers[0].args;
  assert.is(s.spec.podManagementPolicy, 'Parallel');
  const cluster = args.find((a) => a.startsWith('--initial-cluster='))!;
  assert.is(cluster, '--initial-cluster=' + [0, 1, 2].map((i) => `etcd-${i}=https://etcd-${i}.etcd-headless.ha-tier.svc.cluster.local:2380`).join(','));
  assert.ok(args.includes('--initial-advertise-peer-urls=https://$(POD_NAME).etcd-headless.ha-tier.svc.cluster.local:2380'));
  assert.is(s.spec.template.spec.containers[0].lifecycle, undefined, 'no preStop hook removes the member');
});
Components('etcd runs the Raft timing the descriptor (and so the chaos bounds) says, pre-vote included', () => {
  const args: string[] = find(kind, 'StatefulSet', 'etcd').spec.template.spec.containers[0].args;
  assert.ok(args.includes('--heartbeat-interval=100') && args.includes('--election-timeout=1000') && args.includes('--pre-vote=true'), args.join(' '));
  const kindProps = profile('kind');
  const tuned = find(objectsOf({ ...kindProps, etcd: { ...kindProps.etcd, electionTimeoutMs: 1500, preVote: false } }), 'StatefulSet', 'etcd').spec.template.spec.containers[0].args as string[];
  assert.ok(tuned.includes('--election-timeout=1500') && tuned.includes('--pre-vote=false'), tuned.join(' '));
});
Components('Patroni uses etcd v3 on every member, with the DCS settings of the profile', () => {
  const cm = find(kind, 'ConfigMap', 'postgres-patroni');
  const yml: string = cm.data['patroni.yml'];
  for (const i of [0, 1, 2]) assert.match(yml, `- etcd-${i}.etcd-headless.ha-tier.svc.cluster.local:2379`);
  assert.match(yml, /^etcd3:/m);
  assert.not.match(yml, /^etcd:/m);
  for (const line of ['ttl: 20', 'loop_wait: 2', 'retry_timeout: 4', 'synchronous_mode: true', 'synchronous_mode_strict: false',
    'primary_start_timeout: 0', 'failsafe_mode: true', 'postgres: /usr/local/bin/postgres-fenced']) {
    assert.match(yml, line);
  }
  assert.not.match(yml, /callbacks:/, 'no callback edits anything: the router routes from the DCS');
  assert.not.match(yml, /^\s*password:/m, 'no password in the ConfigMap');
});
Components('the -primary and -replicas Services have no selector: the router writes their EndpointSlices', () => {
  for (const [service, slice] of [['postgres-primary', ROUTED_SLICES.primary], ['postgres-replicas', ROUTED_SLICES.replicas]]) {
    const svc = find(kind, 'Service', service);
    assert.is(svc.spec.selector, undefined, `${service} has no selector`);
    const s = find(kind, 'EndpointSlice', slice);
    assert.is(s.metadata.labels['kubernetes.io/service-name'], service);
    assert.is(s.metadata.labels['endpointslice.kubernetes.io/managed-by'], ROUTER_MANAGER);
    assert.equal(s.endpoints, [], 'created empty');
    assert.equal(s.ports.map((p: any) => [p.name, p.port]), svc.spec.ports.map((p: any) => [p.name, p.port]));
  }
  const router = find(kind, 'Deployment', 'postgres-router');
  assert.is(router.spec.replicas, 2);
  assert.is(router.spec.template.spec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution[0].topologyKey, 'kubernetes.io/hostname');
  assert.is(find(kind, 'StatefulSet', 'postgres').spec.template.spec.containers[0].lifecycle.preStop.exec.command[0], '/usr/local/bin/patroni-prestop');
});
Components('RBAC: the router may only read and replace the two routed slices; Patroni pods may only read their own pods', () => {
  assert.equal(find(kind, 'Role', 'postgres-router').rules,
    [{ apiGroups: ['discovery.k8s.io'], resources: ['endpointslices'], verbs: ['get', 'update'], resourceNames: [ROUTED_SLICES.primary, ROUTED_SLICES.replicas] }]);
  assert.equal(find(kind, 'RoleBinding', 'postgres-router').subjects, [{ kind: 'ServiceAccount', name: 'postgres-router', namespace: 'ha-tier' }]);
  assert.equal(find(kind, 'Role', 'postgres-pod-reader').rules,
    [{ apiGroups: [''], resources: ['pods'], verbs: ['get'], resourceNames: ['postgres-0', 'postgres-1', 'postgres-2'] }]);
  assert.equal(find(kind, 'RoleBinding', 'postgres-pod-reader').subjects, [{ kind: 'ServiceAccount', name: 'postgres', namespace: 'ha-tier' }]);
  assert.is(find(kind, 'StatefulSet', 'postgres').spec.template.spec.serviceAccountName, 'postgres');
  for (const n of ['etcd', 'redis', 'sentinel']) assert.is(find(kind, 'StatefulSet', n).spec.template.spec.automountServiceAccountToken, false);
});
Components('Redis: min-replicas-max-lag is within down-after (an isolated master stops taking writes before it is replaced)', () => {
  const conf: string = find(kind, 'ConfigMap', 'redis').data['redis.conf'];
  assert.match(conf, /^min-replicas-to-write 1$/m);
  assert.match(conf, /^min-replicas-max-lag 1$/m);
  const prod: string = find(synthProfile('production'), 'ConfigMap', 'redis').data['redis.conf'];
  assert.match(prod, /^min-replicas-max-lag 5$/m);
});
Components('Sentinel resolves and announces hostnames; Redis announces its stable name; quorum and timings come from props', () => {
  const cm = find(kind, 'ConfigMap', 'redis');
  assert.match(cm.data['sentinel.conf'], 'sentinel resolve-hostnames yes');
  assert.match(cm.data['sentinel.conf'], 'sentinel announce-hostnames yes');
  const sentinel = find(kind, 'StatefulSet', 'sentinel').spec.template.spec.containers[0];
  assert.is(env(sentinel, 'SENTINEL_QUORUM').value, '2');
  assert.is(env(sentinel, 'SENTINEL_DOWN_AFTER_MS').value, String(profile('kind').redis!.downAfterMilliseconds));
  assert.is(env(sentinel, 'SENTINEL_DOWN_AFTER_MS').value, '3000', 'the kind profile waits 3 s (a busy 2-vCPU machine misses pings for 1.4 s)');
  assert.is(env(sentinel, 'SENTINEL_ANNOUNCE_HOSTNAME').value, '$(POD_NAME).sentinel-headless.ha-tier.svc.cluster.local');
  const redis = find(kind, 'StatefulSet', 'redis').spec.template.spec.containers[0];
  assert.is(env(redis, 'REDIS_ANNOUNCE_HOSTNAME').value, '$(POD_NAME).redis-headless.ha-tier.svc.cluster.local');
  assert.is(env(redis, 'REDIS_HOSTS').value.split(' ')[0], 'redis-0.redis-headless.ha-tier.svc.cluster.local');
  assert.is(redis.lifecycle.preStop.exec.command[0], '/usr/local/bin/redis-prestop');
});
Components.run();

const Policies = suite('NetworkPolicies');
const ingress = (name: string) => find(kind, 'NetworkPolicy', name).spec.ingress as any[];
const ports = (rule: any) => rule.ports.map((p: any) => p.port).sort();
const CHAOS = 'ha-tier.dev/chaos-probe';
const fromLabel = (rule: any, key: string, value: string) => rule.from.some((f: any) => f.podSelector.matchLabels[key] === value);
Policies('etcd: client port only from Patroni pods, the router (and the chaos probe on kind), peer port only from members', () => {
  const rules = ingress('etcd');
  assert.equal(rules.filter((r) => fromLabel(r, 'app.kubernetes.io/name', 'postgres')).map(ports), [[2379]]);
  assert.equal(rules.filter((r) => fromLabel(r, 'app.kubernetes.io/name', 'postgres-router')).map(ports), [[2379]]);
  assert.equal(rules.filter((r) => fromLabel(r, 'app.kubernetes.io/name', 'etcd')).map(ports), [[2379, 2380]]);
  assert.equal(rules.filter((r) => fromLabel(r, CHAOS, 'true')).map(ports), [[2379]]);
  assert.is(rules.length, 4, 'nobody else');
});
Policies('PostgreSQL and Redis accept clients labelled as such; Patroni REST only from members, the router and the chaos probe', () => {
  const pg = ingress('postgres');
  assert.equal(ports(pg.find((r) => fromLabel(r, LABEL_CLIENT, 'true'))), [5432]);
  assert.ok(pg.filter((r) => ports(r).includes(8008)).every((r) =>
    fromLabel(r, 'app.kubernetes.io/name', 'postgres') || fromLabel(r, 'app.kubernetes.io/name', 'postgres-router') || fromLabel(r, CHAOS, 'true')));
  for (const [name, port] of [['redis', 6379], ['sentinel', 26379]] as const) {
    assert.ok(ingress(name).some((r) => fromLabel(r, LABEL_CLIENT, 'true') && ports(r).includes(port)));
  }
});
Policies('production gives the chaos probe no access to etcd or Patroni\'s REST API', () => {
  const prod = synthProfile('production');
  for (const name of ['etcd', 'postgres']) {
    const rules = find(prod, 'NetworkPolicy', name).spec.ingress as any[];
    assert.not.ok(rules.some((r) => fromLabel(r, CHAOS, 'true')), name);
  }
});
Policies.run();

const Security = suite('security');
const chart = () => {
  const app = Testing.app();
  return new HaTierChart(app, 'ha-tier', profile('kind'));
};
const tier = chart().describe();
Security('ingress is denied by default: one policy over every pod of the namespace, with no rule', () => {
  const deny = find(kind, 'NetworkPolicy', 'default-deny-ingress');
  assert.equal(deny.spec, { podSelector: {}, policyTypes: ['Ingress'] });
});
Security('clients in another namespace are let in by the namespace label and the pod label together', () => {
  for (const [name, port] of [['postgres', 5432], ['redis', 6379], ['sentinel', 26379]] as const) {
    const other = ingress(name).filter((r) => r.from.some((f: any) => f.namespaceSelector));
    assert.ok(other.length >= 1, `${name} lets other namespaces in`);
    for (const r of other) {
      assert.equal(ports(r), [port]);
      for (const f of r.from) {
        assert.equal(f.namespaceSelector.matchLabels, { [LABEL.clientNamespace]: 'true' });
        assert.equal(f.podSelector.matchLabels, { [LABEL.client]: 'true' });
      }
    }
  }
});
Security('etcd: TLS on every client and peer URL, client certificates required', () => {
  const args: string[] = find(kind, 'StatefulSet', 'etcd').spec.template.spec.containers[0].args;
  for (const flag of ['--client-cert-auth', '--peer-client-cert-auth', '--peer-cert-allowed-cn=etcd']) assert.ok(args.includes(flag), flag);
  for (const url of args.filter((a) => /-urls=/.test(a) && !a.startsWith('--listen-metrics-urls'))) assert.match(url, /=https:\/\//);
  assert.ok(args.some((a) => a.startsWith('--trusted-ca-file=')) && args.some((a) => a.startsWith('--peer-trusted-ca-file=')));
});
Security('etcd users: Patroni may touch only its cluster\'s keys, the router only read them, the chaos probe only on kind', () => {
  const user = (t: typeof tier, name: string) => t.etcd.users.find((u) => u.name === name);
  assert.equal(user(tier, 'patroni')?.grants, [{ prefix: '/service/postgres/', permission: 'readwrite' }]);
  assert.ok(user(tier, 'patroni')?.password, 'Patroni (etcd\'s HTTP gateway) logs in with a password');
  assert.equal(user(tier, 'router')?.grants, [{ prefix: '/service/postgres/', permission: 'read' }]);
  assert.equal(user(tier, 'chaos')?.grants.find((g) => g.prefix === '/service/postgres/')?.permission, 'read');
  const prod = new HaTierChart(Testing.app(), 'ha-tier', profile('production')).describe();
  assert.is(user(prod, 'chaos'), undefined);
  // A certificate with a common name is an etcd identity: the gateway user's must have none.
  assert.is(tier.certificates.find((c) => c.secret === 'etcd-client-patroni')?.commonName, undefined);
  assert.is(tier.certificates.find((c) => c.secret === 'etcd-client-router')?.commonName, 'router');
});
Security('every certificate Secret a pod mounts is one the tier issues', () => {
  const issued = new Set(tier.certificates.map((c) => c.secret));
  const mounted = kind.flatMap((o: any) => o.spec?.template?.spec?.volumes ?? []).map((v: any) => v.secret?.secretName)
    .filter((n: string | undefined) => n && !tier.secrets.some((s) => s.name === n));
  assert.ok(mounted.length >= 6, mounted.join(', '));
  for (const name of mounted) assert.ok(issued.has(name), `${name} is issued by tools/credentials.ts`);
});
Security('PostgreSQL: TLS only over the network, no trust, replication and superuser verify the server; Patroni\'s API over TLS with a user', () => {
  const yml: string = find(kind, 'ConfigMap', 'postgres-patroni').data['patroni.yml'];
  const hba = yml.slice(yml.indexOf('pg_hba:')).split('\n').slice(1).filter((l) => /^\s+- /.test(l)).map((l) => l.trim().slice(2));
  assert.not.ok(hba.some((l) => /\btrust\b/.test(l)), 'no trust');
  assert.ok(hba.filter((l) => !l.startsWith('local')).every((l) => l.startsWith('hostssl') || / reject$/.test(l)), hba.join(' | '));
  assert.is(hba[hba.length - 1], 'host all all 0.0.0.0/0 reject');
  assert.match(yml, /ssl: "?on"?/);
  assert.match(yml, /superuser:\n\s+username: postgres\n\s+sslmode: verify-ca/);
  assert.match(yml, /replication:\n\s+username: replicator\n\s+sslmode: verify-ca/);
  assert.match(yml, /restapi:\n\s+listen: 0\.0\.0\.0:8008\n\s+certfile: /);
  assert.match(yml, /etcd3:[\s\S]*protocol: https/);
  const c = find(kind, 'StatefulSet', 'postgres').spec.template.spec.containers[0];
  assert.is(env(c, 'PATRONI_RESTAPI_USERNAME').value, 'patroni');
  assert.is(env(c, 'PATRONI_ETCD3_USERNAME').value, 'patroni');
});
Security('Redis and Sentinel listen on TLS only; replication and Sentinel\'s own connections use TLS', () => {
  const cm = find(kind, 'ConfigMap', 'redis').data;
  for (const [file, port] of [['redis.conf', 6379], ['sentinel.conf', 26379]] as const) {
    const lines: string[] = cm[file].split('\n');
    assert.ok(lines.includes('port 0'), `${file}: no plain port`);
    assert.ok(lines.includes(`tls-port ${port}`), `${file}: tls-port`);
    assert.ok(lines.includes('tls-replication yes'), `${file}: tls-replication`);
  }
});
Security.run();
