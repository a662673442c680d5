/** One golden file per profile, plus validation of every object against the Kubernetes 1.28 schema. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { SCHEMA_VERSION, validateObject } from './support/schema.js';
import { PROFILE_NAMES, synthFileText, synthProfile } from './support/synth.js';

for (const name of PROFILE_NAMES) {
  test(`profile ${name}: synth output equals tests/golden/${name}.k8s.yaml (refresh: npm run golden:refresh)`, () => {
    const golden = readFileSync(new URL(`./golden/${name}.k8s.yaml`, import.meta.url), 'utf8');
    assert.fixture(synthFileText(name), golden);
  });

  test(`profile ${name}: every object validates against the Kubernetes ${SCHEMA_VERSION} OpenAPI schema`, () => {
    const objs = synthProfile(name);
    assert.ok(objs.length > 20);
    assert.equal(objs.flatMap(validateObject), []);
  });
}

test('the schema check fails on a wrong type, a missing required field and an unknown field', () => {
  const errors = validateObject({
    apiVersion: 'apps/v1', kind: 'StatefulSet', metadata: { name: 'broken' },
    spec: { replicas: 'three', selector: {}, template: {}, serviceNam: 'typo' },
  });
  assert.equal(errors.sort(), [
    'StatefulSet/broken/spec/replicas: must be integer',
    'StatefulSet/broken/spec: must NOT have additional properties (serviceNam)',
    "StatefulSet/broken/spec: must have required property 'serviceName'",
  ].sort());
});

test.run();
