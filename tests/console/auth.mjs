// With `[admin] token` set: the console asks for it, refuses a wrong one, keeps the right one
// only as an HttpOnly cookie, refuses a cross-site form post (checked from the Rust side at
// `cross-site`), shows "signed out" when the cookie goes, and signs out.
import http from 'node:http';
import {
  answerDialog, assert, byTestId, checkpoint, consoleUrl, newPage, required, run, step, untilText,
} from './lib.mjs';

const token = required('TOKEN');
const app = required('APP');
const webhook = required('WEBHOOK');

// Another origin (another port of the same host, so the browser sends the console's
// SameSite=Strict cookie along: only the CSRF check stands in the way) serving pages that
// post a form to the console as soon as they load.
function startOtherSite() {
  const forms = {
    '/purge': `<form method="post" action="${consoleUrl}dlq/purge" enctype="text/plain">`
      + `<input name='{"all":true,"x":"' value='"}'></form>`,
    '/pause': `<form method="post" action="${consoleUrl}webhooks/${app}/${webhook}/pause"><input name="a" value="b"></form>`,
  };
  const server = http.createServer((req, res) => {
    const form = forms[new URL(req.url, 'http://x').pathname];
    res.setHeader('Content-Type', 'text/html');
    // Submitted once loaded, so the test's navigation to this page completes first.
    res.end(`<!doctype html><body>${form || ''}<script>addEventListener('load', () => setTimeout(() => document.forms[0].submit(), 50))</script></body>`);
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

async function signIn(page, value) {
  await page.goto(consoleUrl);
  await byTestId(page, 'login-token').fill(value);
  const answer = page.waitForResponse((r) => r.url().endsWith('/console/login'));
  await byTestId(page, 'login-submit').click();
  return (await answer).status();
}

await run(async (browser) => {
  const { context, page } = await newPage(browser);

  step('without the token: the sign-in page, 401');
  const first = await page.goto(consoleUrl);
  assert(first.status() === 401, `GET / answers ${first.status()}`);
  await byTestId(page, 'login-form').waitFor();
  const api = await page.evaluate(async () => (await fetch('/overview')).status);
  assert(api === 401, `the page's API answers ${api} before signing in`);

  step('a wrong token is refused');
  const wrong = await signIn(page, `${token}-wrong`);
  assert(wrong === 401, `wrong token: ${wrong}`);
  await untilText('the refusal', byTestId(page, 'login-error'), 'not the admin token');
  assert((await context.cookies()).length === 0, 'no cookie for a wrong token');

  step('the right token signs in');
  const right = await signIn(page, token);
  assert(right === 303, `right token: ${right}, not 303 to the console`);
  await byTestId(page, 'webhook-card').first().waitFor();
  const cookies = await context.cookies();
  const session = cookies.find((c) => c.name === 'switchyard_console');
  assert(session, `the console cookie is set: ${JSON.stringify(cookies)}`);
  assert(session.httpOnly && session.sameSite === 'Strict', `HttpOnly, SameSite=Strict: ${JSON.stringify(session)}`);
  assert(!session.value.includes(token), 'the cookie is not the token');
  assert(!(await page.evaluate(() => document.cookie)).includes('switchyard_console'), 'no script can read it');

  step("a post from the console's own origin without the CSRF header: 403");
  const bare = await page.evaluate(async () => (await fetch('/dlq/purge', {
    method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{"all":true}',
  })).status);
  assert(bare === 403, `without X-Switchyard-CSRF: ${bare}`);

  step('cross-site form posts, cookie and all: 403');
  const other = await startOtherSite();
  const otherUrl = `http://127.0.0.1:${other.address().port}`;
  // Opens the other site's page in a tab of the signed-in browser; returns the status the
  // console answered its form post with.
  const postFrom = async (page, target) => {
    const tab = await context.newPage();
    const answer = tab.waitForResponse((r) => r.url() === `${consoleUrl}${target}`);
    await tab.goto(page);
    const status = (await answer).status();
    await tab.waitForURL(`${consoleUrl}${target}`);
    await tab.close();
    return status;
  };
  for (const [path, target] of [['/purge', 'dlq/purge'], ['/pause', `webhooks/${app}/${webhook}/pause`]]) {
    const status = await postFrom(`${otherUrl}${path}`, target);
    assert(status === 403, `the cross-site post to ${target} answered ${status}`);
  }
  step('and from another site altogether (localhost): no cookie, refused');
  const status = await postFrom(`http://localhost:${other.address().port}/purge`, 'dlq/purge');
  assert(status === 401 || status === 403, `the cross-site post from localhost answered ${status}`);
  other.close();

  await checkpoint('cross-site'); // nothing changed: the dead letter is there, not paused

  step('the cookie goes: the page says signed out, with a way back');
  await context.clearCookies();
  await byTestId(page, 'signed-out').waitFor({ state: 'visible' });
  assert((await byTestId(page, 'sign-in-link').getAttribute('href')) === '/', 'a link to sign in');

  step('sign in again, then sign out');
  assert((await signIn(page, token)) === 303, 'signed in again');
  await byTestId(page, 'webhook-card').first().waitFor();
  // An action through the page still works with the cookie (and the page's CSRF value).
  await page.goto(`${consoleUrl}#/webhooks/${app}/${webhook}`);
  await byTestId(page, 'pause-button').click();
  await answerDialog(page, true);
  await byTestId(page, 'paused-banner').waitFor();
  await byTestId(page, 'sign-out').click();
  await byTestId(page, 'login-form').waitFor();
  const after = await page.evaluate(async () => (await fetch('/overview')).status);
  assert(after === 401, `signed out, the API answers ${after}`);
  page.check();
});
