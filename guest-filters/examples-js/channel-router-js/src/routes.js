// The routing table: which channels each webhook gets (the Rust example's routes.rs, in JS).
//
// Params: { routes: [{ webhook, channels: [...] }], otherwise: 'keep' | 'drop' }. A route
// applies to a webhook when its `webhook` pattern matches the webhook's id or its target. A
// webhook with routes gets the events whose channel matches one of their `channels`
// patterns; a webhook without any gets everything (`otherwise: 'keep'`, the default) or
// nothing ('drop'). Patterns are globs: `*` any run of characters, `?` one character.

const FIELDS = ['routes', 'otherwise'];
const ROUTE_FIELDS = ['webhook', 'channels'];

/** Checks the params; throws what is wrong with them (the gateway refuses the filter). */
export function checkRoutes(params) {
  const unknown = Object.keys(params ?? {}).filter((key) => !FIELDS.includes(key));
  if (unknown.length > 0) throw new Error(`invalid params: unknown field \`${unknown[0]}\``);
  const { routes, otherwise = 'keep' } = params;
  if (!Array.isArray(routes)) throw new Error('invalid params: `routes` must be a list');
  if (otherwise !== 'keep' && otherwise !== 'drop') {
    throw new Error("invalid params: `otherwise` must be 'keep' or 'drop'");
  }
  routes.forEach((route, i) => {
    const extra = Object.keys(route ?? {}).filter((key) => !ROUTE_FIELDS.includes(key));
    const strings = (list) => Array.isArray(list) && list.every((s) => typeof s === 'string');
    if (extra.length > 0 || typeof route.webhook !== 'string' || !strings(route.channels)) {
      throw new Error(`invalid params: routes[${i}] must be { webhook, channels: [...] }`);
    }
    if (route.channels.length === 0) throw new Error(`routes[${i}] has no channels`);
  });
  return { routes, otherwise, last: null };
}

/** Whether the webhook (by id and target) gets events on `channel`. */
export function allows(table, webhookId, webhookTarget, channel) {
  // A batch is for one webhook: its routes are matched once per webhook, not per event.
  if (table.last?.webhookId !== webhookId) {
    const applying = table.routes.filter(
      ({ webhook }) => glob(webhook, webhookId) || glob(webhook, webhookTarget),
    );
    table.last = { webhookId, applying };
  }
  const { applying } = table.last;
  if (applying.length === 0) return table.otherwise === 'keep';
  return applying.some(({ channels }) => channels.some((pattern) => glob(pattern, channel)));
}

/** Glob match: `*` any run of characters, `?` exactly one, anything else itself. */
export function glob(pattern, text) {
  let p = 0;
  let t = 0;
  // Where the last `*` was, and the text position it currently stands for the end of.
  let star = -1;
  let starText = 0;
  while (t < text.length) {
    const c = pattern[p];
    if (c === '*') {
      star = p++;
      starText = t;
    } else if (c !== undefined && (c === '?' || c === text[t])) {
      p++;
      t++;
    } else if (star >= 0) {
      // Let the last `*` swallow one more character and retry from there.
      p = star + 1;
      t = ++starText;
    } else {
      return false;
    }
  }
  while (pattern[p] === '*') p++;
  return p === pattern.length;
}
