import assert from 'node:assert/strict';
import { test } from 'node:test';

import { defineFilter } from '../src/index.js';
import { run } from '../src/testing.js';

const byPrefix = defineFilter({
  init(params) {
    if (typeof params.prefix !== 'string') throw new Error('`prefix` must be a string');
    return params.prefix;
  },
  decide(ctx, event, prefix) {
    return event.channel.startsWith(prefix) ? 'keep' : 'drop';
  },
});

test('init turns the params into the state decide gets', () => {
  const filter = run(byPrefix, { prefix: 'presence-' });
  assert.equal(filter.decide({ name: 'member_added', channel: 'presence-a' }), 'keep');
  assert.equal(filter.decide({ name: 'member_added', channel: 'private-a' }), 'drop');
});

test('an init that throws refuses the filter with its message', () => {
  assert.throws(() => run(byPrefix, { prefix: 7 }), /`prefix` must be a string/);
});

test('without init, decide gets the params', () => {
  const filter = run(defineFilter({ decide: (ctx, event, params) => params.verdict }), {
    verdict: 'drop',
  });
  assert.equal(filter.decide({ name: 'e', channel: 'c' }), 'drop');
});

test('events carry typed fields, data and the whole JSON', () => {
  const seen = [];
  const filter = run(
    defineFilter({
      decide(ctx, event) {
        seen.push({ ctx, ...event, data: event.data(), parsed: event.dataJson(), json: event.json() });
        return 'keep';
      },
    }),
  );
  const sent = {
    name: 'client_event',
    channel: 'private-é',
    event: 'client-x',
    socket_id: '1.2',
    user_id: 7,
    data: '{"card":"4111"}',
    extra: [1],
  };
  filter.decide(sent, { webhookId: 'billing' });
  filter.decide({ name: 'subscription_count', channel: 'c', subscription_count: 3, data: 'not json' });
  const [first, second] = seen;
  assert.equal(first.ctx.webhookId, 'billing');
  assert.equal(first.ctx.appId, 'app');
  assert.equal(first.event, 'client-x');
  assert.equal(first.socketId, '1.2');
  assert.equal(first.userId, undefined, 'a numeric user_id is only in the JSON');
  assert.deepEqual(first.parsed, { card: '4111' });
  assert.deepEqual(first.json, sent);
  assert.equal(second.subscriptionCount, 3);
  assert.equal(second.data, 'not json');
  assert.equal(second.parsed, undefined);
});

test('a replacement comes back as the event the gateway delivers', () => {
  const filter = run(
    defineFilter({
      decide: (ctx, event) => ({ replace: { ...event.json(), data: '{}', tagged: true } }),
    }),
  );
  assert.deepEqual(filter.decide({ name: 'e', channel: 'c', data: 'x' }), {
    replace: { name: 'e', channel: 'c', data: '{}', tagged: true },
  });
});

test('an answer that is no verdict is an error naming what was answered', () => {
  for (const answer of [true, 'Keep', undefined, { replace: { name: 'e' } }, { replace: [] }]) {
    const filter = run(defineFilter({ decide: () => answer }));
    assert.throws(
      () => filter.decide({ name: 'e', channel: 'c' }),
      /decide must answer 'keep', 'drop' or \{ replace: \{ name, channel, \.\.\. \} \}, not /,
    );
  }
});

test('defineFilter refuses what is not a filter', () => {
  assert.throws(() => defineFilter({}), /needs \{ decide/);
  assert.throws(() => defineFilter({ decide() {}, init: 'x' }), /`init` must be a function/);
  assert.throws(() => run({}), /export default defineFilter/);
});
