// The component's side of the filter world: the gateway calls the exports `init` and
// `decide`; this turns their spans into strings and events, and the filter's answers into
// verdicts. Only a component build imports this (the host functions exist only there).

import hostLog from 'log';
import eventData from 'event-data';
import eventJson from 'event-json';

import { Event } from './event.js';
import { checkVerdict, start } from './filter.js';
import { setLogSink } from './log.js';
import { spanReader } from './text.js';

/** The world's exports for `filter`: `export const { init, decide } = bind(filter)`. */
export function bind(filter) {
  setLogSink(hostLog);
  let state;
  return {
    // A throw here is the `err` of `init`'s result: the gateway refuses the filter with it.
    init(paramsText) {
      try {
        state = start(filter, paramsText);
      } catch (error) {
        throw error instanceof Error ? error.message : String(error);
      }
    },
    // A throw here traps: the engine prints the error and its stack to stderr, which the
    // gateway puts in the trap's message; the chain's `on_error` then decides the batch.
    decide(text, ctx, records) {
      const read = spanReader(text);
      const context = Object.freeze({
        appId: read(ctx.appId),
        webhookId: read(ctx.webhookId),
        webhookTarget: read(ctx.webhookTarget),
      });
      const optional = (span) => (span === undefined ? undefined : read(span));
      return records.map((record, index) => {
        const count = record.subscriptionCount;
        const fields = {
          name: read(record.name),
          channel: read(record.channel),
          event: optional(record.event),
          socketId: optional(record.socketId),
          userId: optional(record.userId),
          subscriptionCount: count === undefined ? undefined : Number(count),
        };
        const event = new Event(fields, () => eventData(index), () => eventJson(index));
        return checkVerdict(filter.decide(context, event, state));
      });
    },
  };
}
