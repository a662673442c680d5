/** An image whose files change gets a new tag: a cluster keeps running whatever image a tag names. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { images, inputsHash, lockProblems } from '../tools/images.js';

test('every image is locked at its current tag and build inputs (npm run images:lock)', () => {
  assert.equal(lockProblems(), []);
});
test('the inputs hash changes with an image\'s files, and a bundle\'s sources count', () => {
  const router = images().router;
  assert.is.not(inputsHash(router), inputsHash({ ...router, bundle: undefined }), 'the router\'s bundle (its sources and their dependencies) is an input of the router image');
  assert.is.not(inputsHash(images().etcd), inputsHash(images().redis));
});
test.run();
