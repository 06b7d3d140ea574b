declare module 'switchyard:filter/filter@0.1.0' {
  /**
  * Severity of a `log` line.
  */
  /**
  * Severity of a `log` line.
  * # Variants
  * 
  * ## `"trace"`
  * 
  * ## `"debug"`
  * 
  * ## `"info"`
  * 
  * ## `"warn"`
  * 
  * ## `"error"`
  */
  export type Level = 'trace' | 'debug' | 'info' | 'warn' | 'error';
  /**
  * A slice of the `text` passed to `decide`: `len` bytes from byte `offset`, always on
  * character boundaries.
  */
  /**
  * A slice of the `text` passed to `decide`: `len` bytes from byte `offset`, always on
  * character boundaries.
  */
  export interface Span {
    offset: number,
    len: number,
  }
  /**
  * One Pusher webhook event, as the source sent it; its strings are spans of `text`.
  * 
  * A field is filled when the source sent it with the type given here; anything else
  * (other fields, or a field with an unexpected type, such as a numeric `user_id`) is
  * still in the event's JSON, see `event-json`.
  */
  /**
  * One Pusher webhook event, as the source sent it; its strings are spans of `text`.
  * 
  * A field is filled when the source sent it with the type given here; anything else
  * (other fields, or a field with an unexpected type, such as a numeric `user_id`) is
  * still in the event's JSON, see `event-json`.
  */
  export interface Event {
    /**
    * The event type: `channel_occupied`, `channel_vacated`, `member_added`,
    * `member_removed`, `client_event`, `cache_miss`, `subscription_count`, ...
    */
    name: Span,
    /**
    * The channel the event happened on.
    */
    channel: Span,
    /**
    * For `client_event`: the client event's own name (`client-typing`).
    */
    event?: Span,
    /**
    * For `client_event`: the id of the connection that sent it.
    */
    socketId?: Span,
    /**
    * For presence channel events: the member's user id.
    */
    userId?: Span,
    /**
    * For `subscription_count`: the number of subscriptions.
    */
    subscriptionCount?: bigint,
  }
  /**
  * What the filter is deciding for (one module may serve several webhooks); spans of
  * `text`.
  */
  /**
  * What the filter is deciding for (one module may serve several webhooks); spans of
  * `text`.
  */
  export interface Context {
    /**
    * The app the events belong to.
    */
    appId: Span,
    /**
    * The webhook the batch is bound for: a stable id from the gateway's config.
    */
    webhookId: Span,
    /**
    * Where that webhook delivers, as configured (its URL, or its Lambda function).
    */
    webhookTarget: Span,
  }
  /**
  * The decision for one event.
  */
  /**
  * The decision for one event.
  */
  export type Verdict = VerdictKeep | VerdictDrop | VerdictReplace;
  /**
  * Deliver the event unchanged.
  */
  export interface VerdictKeep {
    tag: 'keep',
  }
  /**
  * Do not deliver the event to this webhook.
  */
  export interface VerdictDrop {
    tag: 'drop',
  }
  /**
  * Deliver this event instead: a JSON object with at least string `name` and
  * `channel` fields. A replacement that is not such an object fails the whole batch
  * like a trap does.
  */
  export interface VerdictReplace {
    tag: 'replace',
    val: string,
  }
  /**
  * Called once per instance before any `decide`, with the filter's `params` from the
  * gateway's config as JSON text. An error refuses the filter: the gateway reports the
  * message as a config error.
  */
  export function init(params: string): void;
  /**
  * Decides a batch of events bound for one webhook. `text` holds every string of `ctx`
  * and `events`. Returns exactly one verdict per event, in the same order; a list of
  * another length fails the batch.
  */
  export function decide(text: string, ctx: Context, events: Array<Event>): Array<Verdict>;
  export type Result<T, E> = { tag: 'ok', val: T } | { tag: 'err', val: E };
}
