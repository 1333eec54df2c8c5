// Drives the GraphiQL page at / in Debian's headless Chromium, as a person
// would: picks the analyst token, runs `{ me { tenant } }`, then subscribes
// to a case's activity and waits for a comment. Used by tests/graphiql.rs.
// usage: node graphiql.mjs <base-url> <caseId> <after-cursor> <screenshot.png>
// Prints one JSON line per step; exits non-zero on failure.
import { chromium } from 'playwright-core';

const [base, caseId, after, screenshot] = process.argv.slice(2);
const origin = new URL(base).origin;
const browser = await chromium.launch({ executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium', args: ['--no-sandbox'] });
const report = (step) => console.log(JSON.stringify(step));
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 720 } });
  // Nothing may leave the machine: any other origin is refused and reported.
  const outside = [];
  await page.route('**/*', (route) => {
    const url = route.request().url();
    if (url.startsWith(origin) || url.startsWith('data:')) return route.continue();
    outside.push(url);
    return route.abort();
  });
  const pageErrors = [];
  page.on('pageerror', (e) => pageErrors.push(String(e)));

  await page.goto(base);
  await page.waitForSelector('.graphiql-container .graphiql-query-editor .CodeMirror');
  const roles = await page.$$eval('#casebook-token-choice option', (os) => os.map((o) => o.value));
  report({ step: 'loaded', roles });
  await page.selectOption('#casebook-token-choice', 'analyst');

  // GraphiQL reads the edited document after a short debounce; run only once
  // it has (its parsed operations hang on the editor), or it sends the old one.
  const setQuery = async (text) => {
    await page.$eval('.graphiql-query-editor .CodeMirror', (el, t) => el.CodeMirror.setValue(t), text);
    await page.waitForFunction(
      (t) => {
        const editor = document.querySelector('.graphiql-query-editor .CodeMirror').CodeMirror;
        return editor.getValue() === t && editor.documentAST?.loc?.source?.body === t;
      },
      text,
    );
  };
  const response = () => page.$eval('.graphiql-response .CodeMirror', (el) => el.CodeMirror.getValue());
  const run = () => page.click('.graphiql-execute-button');

  await setQuery('{ me { tenant } }');
  await run();
  await page.waitForFunction(() => document.querySelector('.graphiql-response .CodeMirror').CodeMirror.getValue().includes('tenant'));
  report({ step: 'query', response: JSON.parse(await response()) });

  await setQuery(
    `subscription Watch {\n  caseActivity(caseId: "${caseId}", after: "${after}") {\n    __typename\n    ... on Comment { body }\n  }\n}`,
  );
  await run();
  try {
    await page.waitForFunction(() => document.querySelector('.graphiql-response .CodeMirror').CodeMirror.getValue().includes('"body"'), null, { timeout: 20000 });
  } catch (e) {
    report({ step: 'failed', response: await response(), pageErrors, outside });
    throw e;
  }
  report({ step: 'subscription', response: JSON.parse(await response()) });
  if (screenshot) await page.screenshot({ path: screenshot });
  report({ step: 'done', outside, pageErrors });
} finally {
  await browser.close();
}
