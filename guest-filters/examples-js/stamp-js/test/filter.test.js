import assert from 'node:assert/strict';
import { test } from 'node:test';

import { run } from 'switchyard-filter/testing';

import filter from '../src/filter.js';

test('stamps every event with its build, keeping the rest', () => {
  const event = { name: 'member_added', channel: 'presence-a', user_id: '7' };
  assert.deepEqual(run(filter).decide(event), {
    replace: { ...event, filter_stamp: 'unstamped' },
  });
});
