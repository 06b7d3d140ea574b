// Runs a filter natively, as the gateway would run it, for tests with Node's test runner.

import { Event, fieldsOf } from './event.js';
import { checkVerdict, start } from './filter.js';

const DEFAULT_CONTEXT = Object.freeze({
  appId: 'app',
  webhookId: 'webhook',
  webhookTarget: 'http://127.0.0.1:9000/hooks',
});

/**
 * Starts `filter` with `params` (passed through JSON, as the gateway passes them) and returns
 * a runner whose `decide(event, ctx?)` takes an event as its JSON object
 * (`{ name, channel, user_id, data, ... }`) and answers `'keep'`, `'drop'` or
 * `{ replace: object }`, checked as the gateway checks it.
 */
export function run(filter, params = {}) {
  const state = start(filter, JSON.stringify(params));
  return {
    decide(object, ctx = {}) {
      const text = JSON.stringify(object);
      const data = typeof object.data === 'string' ? object.data : undefined;
      const fields = fieldsOf(object);
      if (fields.name === undefined || fields.channel === undefined) {
        throw new TypeError(`an event needs string \`name\` and \`channel\`: ${text}`);
      }
      const event = new Event(fields, () => data, () => text);
      const context = Object.freeze({ ...DEFAULT_CONTEXT, ...ctx });
      const verdict = checkVerdict(filter.decide(context, event, state));
      return verdict.tag === 'replace' ? { replace: JSON.parse(verdict.val) } : verdict.tag;
    },
  };
}
