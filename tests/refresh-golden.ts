/**
 * `npm run golden:refresh`: rewrites tests/golden/<profile>.k8s.yaml from the current charts.
 * Deliberate by design (uvu has no snapshot updater): review the diff before committing it.
 */
import { writeFileSync } from 'node:fs';
import { PROFILE_NAMES, synthFileText } from './support/synth.js';

for (const name of PROFILE_NAMES) {
  const file = new URL(`./golden/${name}.k8s.yaml`, import.meta.url);
  writeFileSync(file, synthFileText(name));
  console.log(`wrote tests/golden/${name}.k8s.yaml`);
}
