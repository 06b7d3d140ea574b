// A broken config written over the running one (by the Rust side at `watching`): the overview
// shows the refused reload and its error, without a reload of the page, and the config it
// keeps running.
import {
  assert, byTestId, checkpoint, consoleUrl, markPage, newPage, required, run, step, stillSamePage, untilText,
} from './lib.mjs';

const runningHash = required('CONFIG_HASH');
const expectedError = required('EXPECTED_ERROR');

await run(async (browser) => {
  const { page } = await newPage(browser);
  step('the overview with the running config');
  await page.goto(consoleUrl);
  await byTestId(page, 'webhook-card').first().waitFor();
  assert((await byTestId(page, 'config-hash').locator('span').getAttribute('title')) === runningHash, 'the running config hash');
  assert((await byTestId(page, 'reload-failed').count()) === 0, 'no failed reload yet');
  await markPage(page);

  await checkpoint('watching'); // the broken config is written and refused

  step('the refused reload and its error, prominent');
  await untilText('the error', byTestId(page, 'reload-failed-error'), expectedError);
  await untilText('the counts', byTestId(page, 'reload-counts'), '1 refused');
  assert((await page.locator('[data-testid="reload-row"]').first().getAttribute('data-ok')) === 'false', 'the last reload row is the refused one');
  assert((await byTestId(page, 'config-hash').locator('span').getAttribute('title')) === runningHash, 'still the same config');
  await stillSamePage(page);
  page.check();
});
