// {name}: a Switchyard filter.
//
// The gateway calls `decide` for every event bound for a webhook whose `filters` list this
// module; the answer keeps the event ('keep'), drops it ('drop'), or delivers another event
// in its place ({ replace: { ...event.json(), field: 'value' } }).
//
// Build:  npm run build   (-> {name}.wasm)
// Try:    switchyard filter test --module {name}.wasm \
//             --params '{"channel_prefix": "private-"}' < events.jsonl
// Test:   npm test

import { defineFilter, log } from 'switchyard-filter';

export default defineFilter({
  // Once per instance, with the filter's `params` from the gateway's config; a throw refuses
  // the filter with its message. What it returns is the `state` every `decide` gets.
  init({ channel_prefix = 'private-', ...unknown }) {
    const extra = Object.keys(unknown);
    if (extra.length > 0) throw new Error(`unknown params: ${extra.join(', ')}`);
    if (typeof channel_prefix !== 'string') throw new Error('`channel_prefix` must be a string');
    log.info(`keeping channels starting with ${JSON.stringify(channel_prefix)}`);
    return { channelPrefix: channel_prefix };
  },

  // For every event: `event.name`, `event.channel`, `event.userId`... are strings;
  // `event.data()` and `event.json()` fetch the rest. A throw fails the batch (see the
  // filter's `on_error` in the config).
  decide(ctx, event, { channelPrefix }) {
    return event.channel.startsWith(channelPrefix) ? 'keep' : 'drop';
  },
});
