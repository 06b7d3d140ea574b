// A webhook whose receiver refuses its events: failing on the overview, its dead letters
// listed; once the receiver is fixed (by the Rust side at `listed`), one is replayed from its
// own page, one as a selection, the last purged, each through the confirmation dialog, and the
// replays show as new deliveries on the webhook's page.
import {
  answerDialog, assert, byTestId, checkpoint, consoleUrl, newPage, required, run, step, until, untilCount, untilText,
} from './lib.mjs';

const app = required('APP');
const webhook = required('WEBHOOK');
const deadLetters = Number(required('DEAD_LETTERS'));

await run(async (browser) => {
  const { page } = await newPage(browser);
  const rows = page.locator('[data-testid="dead-letter-row"]');

  step('the overview shows the webhook failing, with its dead letters');
  await page.goto(consoleUrl);
  const card = page.locator(`[data-testid="webhook-card"][data-app="${app}"][data-webhook="${webhook}"]`);
  await until('the webhook failing', async () =>
    ['failing', 'circuit_open'].includes(await card.getAttribute('data-health', { timeout: 1000 })));
  await untilText('its dead letters', card.locator('[data-testid="dead-letters"]'), (t) => t.trim() === String(deadLetters));
  // The rates are sampled every few seconds: the failures show within one period.
  await untilText('its failed attempts', card.locator('[data-testid="failures"]'), (t) => Number(t) >= deadLetters);

  step('the dead-letters page lists them, filtered by webhook');
  await byTestId(page, 'nav-dead-letters').click();
  await byTestId(page, 'filter-webhook').locator(`option[value="${webhook}"]`).waitFor({ state: 'attached' });
  await byTestId(page, 'filter-webhook').selectOption(webhook);
  await byTestId(page, 'filter-apply').click();
  await until('the filter in the address', async () => page.url().includes(`webhook=${webhook}`));
  await untilCount('the dead letters', rows, deadLetters);
  for (const row of await rows.all()) {
    assert((await row.getAttribute('data-webhook')) === webhook, 'only the filtered webhook');
    assert((await row.getAttribute('data-reason')) === 'rejected', 'a 4xx is a rejected delivery');
  }

  step('one dead letter: its events, attempts and last error');
  const firstId = await rows.first().getAttribute('data-id');
  await rows.first().locator('[data-testid="dead-letter-link"]').click();
  await untilText('the last error', byTestId(page, 'last-error'), '400');
  await untilText('its events', byTestId(page, 'dead-letter-events'), 'event-1');
  await untilText('its attempts', byTestId(page, 'dead-letter-attempts'), (t) => Number(t) >= 1);

  await checkpoint('listed'); // the receiver is fixed now

  step('replay this one, through the confirmation');
  await byTestId(page, 'replay-one').click();
  const message = await answerDialog(page, true);
  assert(message.includes('queued again'), `the dialog says what replay does: ${message}`);
  await untilText('the replay reported', byTestId(page, 'flash'), 'Replayed 1 dead letter');
  await until('back on the list', async () => page.url().includes('#/dead-letters?'));
  await untilCount('one fewer', rows, deadLetters - 1);
  assert(!(await rows.evaluateAll((rs) => rs.map((r) => r.dataset.id))).includes(firstId), 'the replayed one is gone');

  step('select one: cancelling the dialog changes nothing; confirming replays it');
  await rows.first().locator('[data-testid="dead-letter-select"]').check();
  await untilText('the selection counted', byTestId(page, 'replay-selected'), '(1)');
  await byTestId(page, 'replay-selected').click();
  await answerDialog(page, false);
  await page.waitForTimeout(2500); // a poll comes and goes; the selection and the list stay
  await untilCount('nothing replayed', rows, deadLetters - 1);
  await untilText('still selected', byTestId(page, 'replay-selected'), '(1)');
  await byTestId(page, 'replay-selected').click();
  assert((await answerDialog(page, true)).includes('1 selected dead letter'), 'the dialog names the selection');
  await untilCount('the selected one replayed', rows, deadLetters - 2);

  step('purge all matching (what is left)');
  await byTestId(page, 'purge-all').click();
  const purge = await answerDialog(page, true);
  assert(purge.includes('deleted for good') && purge.includes(`webhook ${webhook}`), `the purge dialog: ${purge}`);
  await byTestId(page, 'no-dead-letters').waitFor();
  await untilText('the purge reported', byTestId(page, 'flash'), 'Purged 1 dead letter');

  await checkpoint('replayed'); // the sink got the replayed events

  step("the webhook's page shows the replays as new deliveries, with their payloads");
  await page.goto(`${consoleUrl}#/webhooks/${encodeURIComponent(app)}/${encodeURIComponent(webhook)}`);
  const delivered = page.locator('[data-testid="delivery-row"][data-state="delivered"]');
  await untilCount('two delivered deliveries', delivered, (n) => n >= 2);
  await untilCount('the dead-lettered ones before them', page.locator('[data-testid="delivery-row"][data-state="dead_lettered"]'), (n) => n >= deadLetters);
  await untilText('a 200 attempt', delivered.first().locator('[data-testid="delivery-attempts"]'), '200');
  await delivered.first().locator('[data-testid="payload-link"]').click();
  await untilText('the payload', byTestId(page, 'payload'), 'event-2');

  step('the replays and the purge are in the admin actions');
  await byTestId(page, 'nav-audit').click();
  await untilCount('the replays', page.locator('[data-testid="audit-row"][data-action="replay"]'), (n) => n >= 2);
  await untilCount('the purge', page.locator('[data-testid="audit-row"][data-action="purge"]'), (n) => n >= 1);
  page.check();
});
