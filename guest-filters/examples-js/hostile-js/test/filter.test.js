import assert from 'node:assert/strict';
import { test } from 'node:test';

import { run } from 'switchyard-filter/testing';

import filter from '../src/filter.js';

test('keeps ordinary events and can refuse to start', () => {
  const hostile = run(filter, { misbehave: 'loop' });
  assert.equal(hostile.decide({ name: 'e', channel: 'c' }), 'keep');
  assert.throws(() => run(filter, { misbehave: 'refuse_init' }), /refuses to start/);
  assert.throws(() => run(filter, { misbehave: 'sulk' }), /misbehave must be one of/);
});

test('throws, or answers no verdict, when asked', () => {
  const misbehave = { name: 'misbehave', channel: 'c' };
  assert.throws(() => run(filter, { misbehave: 'throw' }).decide(misbehave), /on purpose/);
  assert.throws(
    () => run(filter, { misbehave: 'bad_verdict' }).decide(misbehave),
    /decide must answer/,
  );
});
