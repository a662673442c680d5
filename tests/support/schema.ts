/**
 * Validates Kubernetes objects against the OpenAPI v2 schema served by a real v1.28 API server
 * (tests/schema/, refreshed by tools/refresh-schema.sh), with Ajv.
 *
 * Stricter than the API server in one way, like kubeconform's strict mode: an object may not carry a
 * field the schema does not define (a typo would otherwise be dropped silently by the server).
 */
import AjvModule, { ErrorObject, ValidateFunction } from 'ajv';
import { readFileSync, readdirSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';

type Schema = Record<string, unknown> & { properties?: Record<string, unknown>; additionalProperties?: unknown };

const dir = new URL('../schema/', import.meta.url);
const file = readdirSync(dir).find((f) => /^kubernetes-openapi-v2-v1\.28\.\d+\.json\.gz$/.test(f));
if (!file) throw new Error('tests/schema holds no Kubernetes v1.28 OpenAPI schema; run tools/refresh-schema.sh');
const spec = JSON.parse(gunzipSync(readFileSync(new URL(file, dir))).toString('utf8')) as {
  info: { version: string };
  definitions: Record<string, Schema & { 'x-kubernetes-group-version-kind'?: { group: string; version: string; kind: string }[] }>;
};

export const SCHEMA_VERSION = spec.info.version;

// The served schema types these as plain strings; the API accepts numbers too.
spec.definitions['io.k8s.apimachinery.pkg.util.intstr.IntOrString'] = { anyOf: [{ type: 'string' }, { type: 'integer' }] };
spec.definitions['io.k8s.apimachinery.pkg.api.resource.Quantity'] = { anyOf: [{ type: 'string' }, { type: 'number' }] };

// The served schema repeats some enum values (e.g. "Cluster" twice in externalTrafficPolicy), which
// JSON Schema forbids: keep each value once.
const dedupeEnums = (node: unknown): void => {
  if (Array.isArray(node)) node.forEach(dedupeEnums);
  else if (node && typeof node === 'object') {
    const o = node as Record<string, unknown>;
    if (Array.isArray(o.enum)) o.enum = [...new Set(o.enum)];
    Object.values(o).forEach(dedupeEnums);
  }
};
dedupeEnums(spec.definitions);

// Strict: no unknown fields in objects whose fields the schema lists.
for (const def of Object.values(spec.definitions)) {
  if (def.properties && def.additionalProperties === undefined) def.additionalProperties = false;
}

// ajv is CommonJS: under NodeNext its class is the default export's `default`.
const ajv = new AjvModule.default({ strict: false, allErrors: true });
for (const f of ['int32', 'int64', 'double', 'byte', 'date-time', 'int-or-string']) ajv.addFormat(f, true);
ajv.addSchema({ $id: 'k8s', definitions: spec.definitions });

const byKind = new Map<string, string>();
for (const [name, def] of Object.entries(spec.definitions)) {
  for (const gvk of def['x-kubernetes-group-version-kind'] ?? []) {
    const apiVersion = gvk.group ? `${gvk.group}/${gvk.version}` : gvk.version;
    byKind.set(`${apiVersion}/${gvk.kind}`, name);
  }
}

const compiled = new Map<string, ValidateFunction>();

export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  [key: string]: unknown;
}

/** Returns the schema errors of one object, as "path: message" lines; empty when valid. */
export function validateObject(obj: KubeObject): string[] {
  const key = `${obj.apiVersion}/${obj.kind}`;
  const definition = byKind.get(key);
  if (!definition) return [`${key} is not a kind of Kubernetes ${SCHEMA_VERSION}`];
  let validate = compiled.get(definition);
  if (!validate) {
    validate = ajv.compile({ $ref: `k8s#/definitions/${definition}` });
    compiled.set(definition, validate);
  }
  const label = `${obj.kind}/${obj.metadata?.name}`;
  if (validate(obj)) return [];
  return (validate.errors ?? []).map((e: ErrorObject) => {
    const extra = e.keyword === 'additionalProperties' ? ` (${(e.params as { additionalProperty: string }).additionalProperty})` : '';
    return `${label}${e.instancePath}: ${e.message}${extra}`;
  });
}
