import assert from 'node:assert/strict';
import { test } from 'node:test';

import { run } from 'switchyard-filter/testing';

import filter from '../src/filter.js';
import { checkRoutes, glob } from '../src/routes.js';

test('glob matches like a shell', () => {
  assert.ok(glob('private-*', 'private-a'));
  assert.ok(glob('private-*', 'private-'));
  assert.ok(!glob('private-*', 'presence-a'));
  assert.ok(glob('*-room-?', 'presence-room-7'));
  assert.ok(!glob('*-room-?', 'presence-room-17'));
  assert.ok(glob('a*b*c', 'aXbYbZc'));
  assert.ok(!glob('a*b*c', 'aXbYbZ'));
  assert.ok(glob('*', ''));
  assert.ok(glob('exact', 'exact'));
  assert.ok(!glob('exact', 'exactly'));
});

const event = (channel) => ({ name: 'client_event', channel });

test('routes by webhook id or target', () => {
  const router = run(filter, {
    routes: [
      { webhook: 'billing', channels: ['private-billing-*'] },
      { webhook: 'https://audit.example.com/*', channels: ['*'] },
    ],
  });
  const billing = { webhookId: 'billing', webhookTarget: 'https://b' };
  assert.equal(router.decide(event('private-billing-1'), billing), 'keep');
  assert.equal(router.decide(event('private-chat'), billing), 'drop');
  const audit = { webhookId: 'x', webhookTarget: 'https://audit.example.com/hook' };
  assert.equal(router.decide(event('anything'), audit), 'keep');
  // No route names this webhook: `otherwise` (keep by default).
  assert.equal(router.decide(event('private-chat'), { webhookId: 'other' }), 'keep');
});

test("otherwise: 'drop' closes unrouted webhooks", () => {
  const router = run(filter, { routes: [{ webhook: 'a', channels: ['*'] }], otherwise: 'drop' });
  assert.equal(router.decide(event('c'), { webhookId: 'a' }), 'keep');
  assert.equal(router.decide(event('c'), { webhookId: 'b' }), 'drop');
});

test('refuses bad tables', () => {
  assert.throws(
    () => checkRoutes({ routes: [{ webhook: 'a', channels: [] }] }),
    /^Error: routes\[0\] has no channels$/,
  );
  assert.throws(() => checkRoutes({ routes: [], otherwise: 'maybe' }), /otherwise/);
  assert.throws(() => checkRoutes({ route: [] }), /unknown field `route`/);
});

test('decides per webhook from params', () => {
  const router = run(filter, {
    routes: [{ webhook: 'chat', channels: ['private-chat-*'] }],
    otherwise: 'drop',
  });
  const chat = { webhookId: 'chat', webhookTarget: 'https://chat.example.com/hook' };
  const other = { webhookId: 'other', webhookTarget: 'https://other.example.com/hook' };
  assert.equal(router.decide(event('private-chat-42'), chat), 'keep');
  assert.equal(router.decide(event('private-billing'), chat), 'drop');
  assert.equal(router.decide(event('private-chat-42'), other), 'drop');
});

test('refuses params it does not understand', () => {
  assert.throws(() => run(filter, { routes: 'all' }), /^Error: invalid params:/);
});
