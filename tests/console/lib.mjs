// What every console script shares: the browser (Debian's chromium driven by playwright-core),
// waiting with deadlines, the page's confirmation dialog, and checkpoints where the Rust test
// that runs the script does its part (posts events, breaks the config, checks the sink).
//
// A script prints `@checkpoint NAME` and reads one line from stdin before going on.
import readline from 'node:readline';
import { chromium } from '../node/node_modules/playwright-core/index.mjs';

export const consoleUrl = required('CONSOLE_URL'); // the admin listener, ending in '/'
export const PATIENCE_MS = 20000;

export function required(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} must be set`);
  return value;
}

const stdin = readline.createInterface({ input: process.stdin })[Symbol.asyncIterator]();

/// Tells the Rust side we reached `name` and waits until it says go on.
export async function checkpoint(name) {
  console.log(`@checkpoint ${name}`);
  const line = await stdin.next();
  if (line.done) throw new Error(`stdin closed at checkpoint ${name}`);
}

export function step(text) {
  console.log(`step: ${text}`);
}

/// Runs `body(browser)` with one chromium for the whole script; exits 1 on any failure.
export async function run(body) {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    // Chromium's sandbox needs user namespaces, which root in a container does not get.
    args: process.getuid && process.getuid() === 0 ? ['--no-sandbox'] : [],
  });
  // Waits still pending when the browser closes reject too: the first error is the one to say.
  process.on('unhandledRejection', () => {});
  try {
    await body(browser);
  } catch (e) {
    console.error(e && e.stack ? e.stack : e);
    await browser.close().catch(() => {});
    process.exit(1);
  }
  await browser.close().catch(() => {});
  process.exit(0);
}

/// A page in a fresh context; any page error or CSP violation fails the script at `check()`.
export async function newPage(browser, viewport = { width: 1280, height: 800 }) {
  const context = await browser.newContext({ viewport });
  const page = await context.newPage();
  const problems = [];
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error' && /Content Security Policy|Refused to/i.test(m.text())) {
      problems.push(`console: ${m.text()}`);
    }
  });
  page.check = () => {
    if (problems.length) throw new Error(`the page misbehaved:\n${problems.join('\n')}`);
  };
  return { context, page };
}

export const byTestId = (page, id) => page.locator(`[data-testid="${id}"]`);

/// Waits until `probe()` returns something truthy; returns it. `what` names it in the error.
export async function until(what, probe, ms = PATIENCE_MS) {
  const deadline = Date.now() + ms;
  let last;
  for (;;) {
    try {
      last = await probe();
      if (last) return last;
    } catch (e) {
      last = e.message;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what} (last: ${JSON.stringify(last)})`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/// Waits until the locator's text satisfies `test` (a string it must contain, or a function).
export async function untilText(what, locator, test, ms) {
  const ok = typeof test === 'function' ? test : (t) => t.includes(test);
  return until(what, async () => {
    const text = await locator.first().textContent({ timeout: 1000 });
    return ok(text || '') ? text : false;
  }, ms);
}

/// Waits until `count()` of the locator satisfies `test` (a number, or a function).
export async function untilCount(what, locator, test, ms) {
  const ok = typeof test === 'function' ? test : (n) => n === test;
  return until(what, async () => ok(await locator.count()), ms);
}

/// Answers the page's confirmation dialog (which must open) and waits for it to close;
/// returns its message.
export async function answerDialog(page, accept) {
  const dialog = page.locator('dialog[data-testid="confirm-dialog"][open]');
  await dialog.waitFor({ timeout: PATIENCE_MS });
  const message = await byTestId(page, 'confirm-message').textContent();
  await byTestId(page, accept ? 'confirm-ok' : 'confirm-cancel').click();
  await page.locator('dialog[data-testid="confirm-dialog"]:not([open])').waitFor({ state: 'attached', timeout: PATIENCE_MS });
  return message;
}

/// Marks the document, so a later `stillSamePage` shows the page was never reloaded.
export async function markPage(page) {
  await page.evaluate(() => { window.__consoleTestMark = 1; });
}

export async function stillSamePage(page) {
  if (!(await page.evaluate(() => window.__consoleTestMark === 1))) {
    throw new Error('the page was reloaded (live updates must not reload it)');
  }
}

export function assert(condition, message) {
  if (!condition) throw new Error(`assertion failed: ${message}`);
}
