// What `decide` sees of an event: its typed fields as plain values, and the rest on request.

/**
 * One Pusher webhook event. `name` and `channel` are always there; `event`, `socketId`,
 * `userId` (strings) and `subscriptionCount` (a number) when the source sent them with that
 * type. `data()` and `json()` fetch the rest only when called.
 */
export class Event {
  #data;
  #json;

  /**
   * @param {object} fields name, channel, event, socketId, userId, subscriptionCount
   * @param {() => string | undefined} data the event's `data` string, if any
   * @param {() => string} json the whole event as JSON text
   */
  constructor(fields, data, json) {
    this.name = fields.name;
    this.channel = fields.channel;
    this.event = fields.event;
    this.socketId = fields.socketId;
    this.userId = fields.userId;
    this.subscriptionCount = fields.subscriptionCount;
    this.#data = data;
    this.#json = json;
  }

  /** The `data` field when it is a string (Pusher sends JSON text there), else undefined. */
  data() {
    return this.#data();
  }

  /** `data()` parsed as JSON; undefined when there is none or it is not JSON. */
  dataJson() {
    const text = this.#data();
    if (text === undefined) return undefined;
    try {
      return JSON.parse(text);
    } catch {
      return undefined;
    }
  }

  /** The whole event as sent, every field in order: a new object at each call. */
  json() {
    return JSON.parse(this.#json());
  }
}

/** An event's typed fields from its JSON object, as the gateway extracts them. */
export function fieldsOf(object) {
  const string = (value) => (typeof value === 'string' ? value : undefined);
  const count = object.subscription_count;
  return {
    name: string(object.name),
    channel: string(object.channel),
    event: string(object.event),
    socketId: string(object.socket_id),
    userId: string(object.user_id),
    subscriptionCount:
      Number.isSafeInteger(count) && count >= 0 ? count : undefined,
  };
}
