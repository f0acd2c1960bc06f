'use strict';
// The bench scripts' one flag parser (bench/lib/script.js).
const test = require('node:test');
const assert = require('node:assert/strict');
const { flagValue } = require('../lib/script.js');

test('flagValue takes the value after the first = of --name=, the first occurrence, else the fallback', () => {
  const argv = ['--mib=512', '--no-prof', '--node-arg=--max-semi-space-size=8', '--mib=64', '--only='];
  assert.equal(flagValue(argv, 'mib'), '512');
  assert.equal(flagValue(argv, 'node-arg'), '--max-semi-space-size=8');
  assert.equal(flagValue(argv, 'only'), '');
  // A bare flag and a name that is only a prefix of another are not values.
  assert.equal(flagValue(argv, 'no-prof', 'unset'), 'unset');
  assert.equal(flagValue(argv, 'mi', 'unset'), 'unset');
  assert.equal(flagValue(argv, 'rounds'), undefined);
});
