import type { EventJson, Filter, FilterContext } from './index.js';

/** A verdict as the gateway reads it: a replacement is the event object delivered. */
export type CheckedVerdict = 'keep' | 'drop' | { replace: EventJson };

export interface Runner {
  /** Decides one event given as its JSON object; `ctx` fields default to app/webhook. */
  decide(event: EventJson, ctx?: Partial<FilterContext>): CheckedVerdict;
}

/** Starts `filter` with `params` (through JSON, as the gateway passes them). */
export function run<Params, State>(filter: Filter<Params, State>, params?: Params): Runner;
