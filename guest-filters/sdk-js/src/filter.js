// A filter definition, and the rules both runners (the component and the native test runner)
// apply to it: how params reach `init`, and what `decide` may answer.

/**
 * Declares a filter: `decide(ctx, event, state)` answers `'keep'`, `'drop'` or
 * `{ replace: event }` for each event; the optional `init(params)` runs once per instance
 * and returns the `state` every `decide` gets (without `init`, the params themselves).
 */
export function defineFilter(definition) {
  if (typeof definition?.decide !== 'function') {
    throw new TypeError('defineFilter needs { decide(ctx, event, state) { ... } }');
  }
  if (definition.init !== undefined && typeof definition.init !== 'function') {
    throw new TypeError('defineFilter: `init` must be a function when given');
  }
  return Object.freeze({ init: definition.init, decide: definition.decide });
}

/** Runs `init` on params given as JSON text, as the gateway passes them; returns the state. */
export function start(filter, paramsText) {
  if (typeof filter?.decide !== 'function') {
    throw new TypeError('the filter module must `export default defineFilter({ ... })`');
  }
  let params;
  try {
    params = JSON.parse(paramsText);
  } catch (error) {
    throw new Error(`params are not JSON: ${error.message}`);
  }
  return filter.init ? filter.init(params) : params;
}

/**
 * Checks a verdict `decide` returned; returns it with a replacement as JSON text.
 * @returns {{tag: 'keep'} | {tag: 'drop'} | {tag: 'replace', val: string}}
 */
export function checkVerdict(verdict) {
  if (verdict === 'keep' || verdict === 'drop') return { tag: verdict };
  const replacement = verdict?.replace;
  if (
    replacement !== null &&
    typeof replacement === 'object' &&
    !Array.isArray(replacement) &&
    typeof replacement.name === 'string' &&
    typeof replacement.channel === 'string'
  ) {
    return { tag: 'replace', val: JSON.stringify(replacement) };
  }
  throw new TypeError(
    `decide must answer 'keep', 'drop' or { replace: { name, channel, ... } }, not ${describe(verdict)}`,
  );
}

function describe(value) {
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}
