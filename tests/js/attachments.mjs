// examples/web's attachments module in Debian's headless Chromium, as a
// frontend uses it: a page on its own origin (a development server this
// script runs on localhost, as a frontend's dev server would) picks a file
// in an <input type=file>, uploads it to the API on another origin (CORS,
// the preflight the upload's header forces), then clicks a link to the
// signed download URL and keeps what the browser downloads.
// usage: node attachments.mjs <graphql-url> <token> <caseId> <examples/web/dist>
// Prints one JSON line per step; exits non-zero on failure.
import { createServer } from 'node:http';
import { readFile } from 'node:fs/promises';
import { join, normalize } from 'node:path';
import { chromium } from 'playwright-core';

const [api, token, caseId, dist] = process.argv.slice(2);
const report = (step) => console.log(JSON.stringify(step));
const page_html = `<!doctype html><meta charset="utf-8"><title>casebook files</title>
<input type="file" id="file">
<script type="module">
  import { attachFile } from '/attachments.js';
  window.attach = (api, token, caseId) => {
    const file = document.getElementById('file').files[0];
    return attachFile(api, token, caseId, file, file.name);
  };
</script>`;

// The app's origin: the page, and the example's compiled modules.
const server = createServer(async (request, response) => {
  const path = new URL(request.url, 'http://localhost').pathname;
  if (path === '/' || path === '/index.html') {
    response.writeHead(200, { 'content-type': 'text/html' }).end(page_html);
    return;
  }
  const file = normalize(join(dist, path));
  try {
    if (!file.startsWith(normalize(dist))) throw new Error('outside');
    const body = await readFile(file);
    response.writeHead(200, { 'content-type': 'text/javascript' }).end(body);
  } catch {
    response.writeHead(404).end(`no ${path}`);
  }
});
await new Promise((ready) => server.listen(0, '127.0.0.1', ready));
const app = `http://localhost:${server.address().port}/`;

const browser = await chromium.launch({ executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium', args: ['--no-sandbox'] });
try {
  const context = await browser.newContext({ acceptDownloads: true });
  const page = await context.newPage();
  const pageErrors = [];
  page.on('pageerror', (e) => pageErrors.push(String(e)));
  await page.goto(app);
  await page.waitForFunction(() => typeof window.attach === 'function');

  const bytes = Buffer.concat([Buffer.from('\x89PNG\r\n\x1a\n', 'latin1'), Buffer.from('a screenshot of the lure')]);
  await page.setInputFiles('#file', { name: 'lure.png', mimeType: 'image/png', buffer: bytes });
  const attached = await page.evaluate(([a, t, c]) => window.attach(a, t, c), [api, token, caseId]);
  report({ step: 'uploaded', attachment: attached });

  // A person clicks the link; the browser downloads (Content-Disposition: attachment).
  const href = new URL(attached.downloadUrl, api).href;
  await page.evaluate((url) => {
    const link = document.createElement('a');
    link.href = url;
    link.id = 'download';
    link.textContent = 'download';
    document.body.append(link);
  }, href);
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#download')]);
  const saved = await readFile(await download.path());
  report({
    step: 'downloaded',
    suggestedFilename: download.suggestedFilename(),
    same: Buffer.compare(saved, bytes) === 0,
    size: saved.length,
  });
  if (pageErrors.length) throw new Error(`page errors: ${pageErrors.join('; ')}`);
} finally {
  await browser.close();
  server.close();
}
