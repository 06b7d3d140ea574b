// Pausing a webhook from its page (through the confirmation) holds its deliveries: the Rust
// side posts events at `paused` and checks none reach the receiver, the page shows them
// waiting; resuming releases them (checked at `resumed`). Both are in the admin actions.
import {
  answerDialog, assert, byTestId, checkpoint, consoleUrl, markPage, newPage, required, run, step, stillSamePage,
  until, untilCount, untilText,
} from './lib.mjs';

const app = required('APP');
const webhook = required('WEBHOOK');
const held = required('HELD_EVENTS');

await run(async (browser) => {
  const { page } = await newPage(browser);
  const root = byTestId(page, 'webhook-page');
  step("the webhook's page");
  await page.goto(`${consoleUrl}#/webhooks/${encodeURIComponent(app)}/${encodeURIComponent(webhook)}`);
  await until('the page loaded', async () => (await root.getAttribute('data-paused')) === 'false');
  await markPage(page);

  step('pause, through the confirmation');
  await byTestId(page, 'pause-button').click();
  const message = await answerDialog(page, true);
  assert(message.includes('held'), `the dialog says what pausing does: ${message}`);
  await until('paused', async () => (await root.getAttribute('data-paused')) === 'true');
  await byTestId(page, 'paused-banner').waitFor();
  await untilText('the paused badge', byTestId(page, 'health-badge'), 'paused');

  await checkpoint('paused'); // events posted, held

  step('the held events show as waiting, live');
  await untilText('the events waiting', byTestId(page, 'queue-events'), (t) => t.trim() === held);
  await byTestId(page, 'resume-button').click();
  await answerDialog(page, true);
  await until('resumed', async () => (await root.getAttribute('data-paused')) === 'false');

  await checkpoint('resumed'); // the receiver got them

  step('delivered, and nothing waits');
  await untilText('nothing waiting', byTestId(page, 'queue-events'), (t) => t.trim() === '0');
  await untilCount('a delivery', page.locator('[data-testid="delivery-row"][data-state="delivered"]'), (n) => n >= 1);
  await stillSamePage(page);

  step('the pause and the resume are recorded');
  await byTestId(page, 'nav-audit').click();
  const target = `${app}/${webhook}`;
  // By `api`: without a token the gateway cannot tell the page from any other client.
  for (const action of ['pause', 'resume']) {
    await untilCount(`the ${action}`, page.locator(`[data-testid="audit-row"][data-action="${action}"][data-target="${target}"]`), 1);
  }
  page.check();
});
