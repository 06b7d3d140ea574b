import assert from 'node:assert/strict';
import { test } from 'node:test';

import { run } from 'switchyard-filter/testing';

import filter, { REDACTED } from '../src/filter.js';

const decideWith = (fields: string[], event: { name: string; channel: string; [k: string]: unknown }) =>
  run(filter, { fields }).decide(event);

test('redacts named fields at any depth', () => {
  const data = { card: '4111', user: { password: 'x', name: 'ann' }, items: [{ card: '5' }] };
  const verdict = decideWith(['card', 'password'], {
    name: 'client_event',
    channel: 'private-shop',
    event: 'client-pay',
    data: JSON.stringify(data),
  });
  assert.ok(typeof verdict === 'object', 'expected a replacement');
  const edited = verdict.replace;
  assert.deepEqual(JSON.parse(edited.data as string), {
    card: REDACTED,
    user: { password: REDACTED, name: 'ann' },
    items: [{ card: REDACTED }],
  });
  // Everything else about the event stays.
  assert.equal(edited.event, 'client-pay');
  assert.equal(edited.channel, 'private-shop');
});

test('leaves other events and clean data alone', () => {
  const secret = { name: 'member_added', channel: 'presence-a', data: '{"card":"4111"}' };
  assert.equal(decideWith(['card'], secret), 'keep');
  const clean = { name: 'client_event', channel: 'private-a', data: '{"text":"hi"}' };
  assert.equal(decideWith(['card'], clean), 'keep');
  const notJson = { name: 'client_event', channel: 'private-a', data: 'card' };
  assert.equal(decideWith(['card'], notJson), 'keep');
});

test('refuses an empty field list', () => {
  assert.throws(() => run(filter, { fields: [] }), /nothing to redact/);
});
