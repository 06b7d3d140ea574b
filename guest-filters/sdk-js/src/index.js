// Switchyard filters in JavaScript: `export default defineFilter({ init, decide })`.
// The contract with the gateway is the WIT world in guest-filters/wit/filter.wit; `component.js`
// implements it around a filter, `testing.js` runs a filter natively, `cli.js` builds it.

export { defineFilter } from './filter.js';
export { log } from './log.js';
