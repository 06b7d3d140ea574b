// `log.info(...)` and friends: into the gateway's log inside a component (tagged with the
// filter's name there), to stderr when the filter runs natively in tests.

const LEVELS = ['trace', 'debug', 'info', 'warn', 'error'];

let sink = (level, message) => console.error(`${level}: ${message}`);

/** Sends every line to `write(level, message)` from now on (the component's host import). */
export function setLogSink(write) {
  sink = write;
}

/** Arguments joined as `console.log` would show them, roughly: strings as they are. */
function format(args) {
  return args
    .map((arg) => {
      if (typeof arg === 'string') return arg;
      if (arg instanceof Error) return arg.stack || `${arg.name}: ${arg.message}`;
      try {
        return JSON.stringify(arg) ?? String(arg);
      } catch {
        return String(arg);
      }
    })
    .join(' ');
}

/** `log.trace`, `log.debug`, `log.info`, `log.warn`, `log.error`. */
export const log = Object.freeze(
  Object.fromEntries(LEVELS.map((level) => [level, (...args) => sink(level, format(args))])),
);
