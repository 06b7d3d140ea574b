// The console at desktop (1280x800) and phone (390x844) width: the overview with a failing
// webhook, that webhook's page, and the dead letters, into SCREENSHOT_DIR. At phone width the
// page itself never scrolls sideways. The filters and admin-actions pages draw (empty here).
import path from 'node:path';
import {
  assert, byTestId, consoleUrl, newPage, required, run, step, until, untilCount,
} from './lib.mjs';

const dir = required('SCREENSHOT_DIR');
const app = required('APP');
const failing = required('FAILING_WEBHOOK');
const dead = required('DEAD_WEBHOOK');

const sizes = [['desktop', { width: 1280, height: 800 }], ['phone', { width: 390, height: 844 }]];
const pages = [
  ['overview', '#/', async (page) => {
    await until('the failing webhook', async () => ['failing', 'circuit_open'].includes(
      await page.locator(`[data-testid="webhook-card"][data-webhook="${failing}"]`).getAttribute('data-health', { timeout: 1000 })));
  }],
  ['webhook', `#/webhooks/${app}/${failing}`, async (page) => {
    await untilCount('its deliveries', page.locator('[data-testid="delivery-row"]'), (n) => n >= 1);
  }],
  ['dead-letters', `#/dead-letters?app=${app}&webhook=${dead}`, async (page) => {
    await untilCount('the dead letters', page.locator('[data-testid="dead-letter-row"]'), (n) => n >= 1);
  }],
];

await run(async (browser) => {
  for (const [size, viewport] of sizes) {
    const { page } = await newPage(browser, viewport);
    for (const [name, hash, ready] of pages) {
      step(`${name} at ${size} width`);
      await page.goto(`${consoleUrl}${hash}`);
      await ready(page);
      await byTestId(page, 'live-status').and(page.locator('[data-state="live"]')).waitFor();
      const wide = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      assert(wide <= 0, `${name} at ${size} width scrolls sideways by ${wide} px`);
      // The whole page, up to a few screens (a long list is the same further down).
      const height = await page.evaluate(() => document.documentElement.scrollHeight);
      await page.screenshot({
        path: path.join(dir, `${name}-${size}.png`),
        fullPage: true,
        clip: { x: 0, y: 0, width: viewport.width, height: Math.min(height, viewport.height * 2.5) },
      });
    }
    // The other pages draw too (nothing to photograph without filters or actions).
    for (const [hash, ready] of [['#/filters', 'no-filters'], ['#/audit', 'no-actions']]) {
      await page.goto(`${consoleUrl}${hash}`);
      await byTestId(page, ready).waitFor();
    }
    page.check();
  }
});
