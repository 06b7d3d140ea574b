// The filter's logic, natively: `npm test` (compiled by tsc, run by Node's test runner).

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { run } from 'switchyard-filter/testing';

import filter from '../src/filter.js';

test('keeps channels with the prefix', () => {
  const keeping = run(filter, { channel_prefix: 'private-' });
  assert.equal(keeping.decide({ name: 'client_event', channel: 'private-a' }), 'keep');
  assert.equal(keeping.decide({ name: 'client_event', channel: 'public-a' }), 'drop');
});

test('refuses params it does not know', () => {
  const misspelt = { channel_prefx: 'x' } as Record<string, string>;
  assert.throws(() => run(filter, misspelt), /unknown params: channel_prefx/);
});
