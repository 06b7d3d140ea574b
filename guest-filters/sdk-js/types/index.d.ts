// The SDK's types, derived from the world's (world.d.ts, generated from filter.wit by
// `npm run types`): where the world passes spans of the batch text, a filter sees strings.

/// <reference path="./world.d.ts" />
import type * as World from 'switchyard:filter/filter@0.1.0';

/** A world record with its spans as strings and its u64 counts as numbers. */
type Plain<T> = {
  readonly [K in keyof T]: NonNullable<T[K]> extends World.Span
    ? string
    : NonNullable<T[K]> extends bigint
      ? number
      : T[K];
};

/** An event as the source sent it (its JSON object): at least `name` and `channel`. */
export interface EventJson {
  name: string;
  channel: string;
  [field: string]: unknown;
}

/**
 * One Pusher webhook event: `name`, `channel`, and `event`, `socketId`, `userId`,
 * `subscriptionCount` when the source sent them with the world's types.
 */
export interface FilterEvent extends Plain<World.Event> {
  /** The `data` field when it is a string (Pusher sends JSON text there). Fetched on call. */
  data(): string | undefined;
  /** `data()` parsed as JSON; undefined when there is none or it is not JSON. */
  dataJson(): unknown;
  /** The whole event as sent, every field in order; a new object at each call. */
  json(): EventJson;
}

/** The app and webhook a batch is decided for: `appId`, `webhookId`, `webhookTarget`. */
export type FilterContext = Plain<World.Context>;

/** Keep the event, drop it, or deliver another event in its place. */
export type Verdict = Exclude<World.Verdict['tag'], 'replace'> | { replace: EventJson };

export interface FilterDefinition<Params, State> {
  /** Once per instance, with the filter's `params` from the config; a throw refuses the filter. */
  init?(params: Params): State;
  /** For every event; `state` is what `init` returned (without `init`, the params). */
  decide(ctx: FilterContext, event: FilterEvent, state: State): Verdict;
}

/** A filter, for `export default`. */
export interface Filter<Params, State> extends Readonly<FilterDefinition<Params, State>> {}

/** Declares the module's filter: `export default defineFilter({ init, decide })`. */
export function defineFilter<Params = any, State = Params>(
  definition: FilterDefinition<Params, State>,
): Filter<Params, State>;

/** Lines in the gateway's log, tagged with the filter's name (stderr when run natively). */
export const log: { readonly [L in World.Level]: (...args: unknown[]) => void };
