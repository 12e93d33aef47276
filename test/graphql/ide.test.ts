/**
 * The GraphQL IDE at /altair (src/routes/graphql/ide.ts): its page and every asset the page names
 * are served by the service from the npm package (no CDN: it works without internet), open like
 * /docs even when API_TOKENS is set, while /graphql keeps its roles.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { getDistDirectory } from 'altair-static';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { altairDist } from '../../src/routes/graphql/ide.js';
import { startApp, type TestApp } from '../helper.js';

let t: TestApp;
beforeAll(async () => {
  t = await startApp({ env: { API_TOKENS: 'viewer-token-1:viewer' } });
});
afterAll(async () => t.close());

it('graphql ide: /altair serves the HTML page and every script, style and icon it names from the service itself, without a token', async () => {
  const page = await t.app.inject({ method: 'GET', url: '/altair' });
  expect(page.statusCode).toBe(200);
  expect(page.headers['content-type']).toMatch(/^text\/html/);
  expect(page.body).toContain('AltairGraphQL.init');
  expect(page.body).toContain('endpointURL: `/graphql`');
  // Nothing from another origin: every src/href is relative to the page's <base href="/altair/">.
  expect(page.body).not.toMatch(/(src|href)="(https?:)?\/\//);
  expect(page.body).toContain('<base href="/altair/">');
  const assets = [...page.body.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]).filter((u) => u !== '/altair/');
  expect(assets).toEqual(expect.arrayContaining(['main.js', 'polyfills.js', 'styles.css']));
  for (const asset of assets) {
    const res = await t.app.inject({ method: 'GET', url: `/altair/${asset}` });
    expect(res.statusCode, asset).toBe(200);
    expect(res.rawPayload.length, asset).toBeGreaterThan(0);
  }
  // /graphql itself still needs a token.
  const anonymous = await t.app.inject({ method: 'POST', url: '/graphql', payload: { query: '{ smmus { id } }' } });
  expect(anonymous.statusCode).toBe(401);
  const viewer = await t.app.inject({ method: 'POST', url: '/graphql', payload: { query: '{ smmus { id } }' }, headers: { authorization: 'Bearer viewer-token-1' } });
  expect(JSON.parse(viewer.body).data.smmus.length).toBeGreaterThan(0);
});

it("graphql ide: the assets' directory found without loading altair-static is the package's own getDistDirectory()", () => {
  expect(altairDist()).toBe(getDistDirectory());
  expect(existsSync(path.join(altairDist(), 'index.html'))).toBe(true);
});

it('graphql ide: altair-static is loaded on the first request for /altair, not when the service starts (a fresh process)', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'vsmmu-ide-'));
  const root = path.resolve(import.meta.dirname, '../..');
  const script = `
    import { createRequire } from 'node:module';
    // This Node's better-sqlite3 first, as src/server.ts does (storage/sqlite-driver.ts).
    await import(${JSON.stringify(path.join(root, 'src/storage/sqlite-driver.ts'))});
    const { buildApp } = await import(${JSON.stringify(path.join(root, 'src/app.ts'))});
    const { loadConfig } = await import(${JSON.stringify(path.join(root, 'src/config.ts'))});
    const key = createRequire(${JSON.stringify(path.join(root, 'package.json'))}).resolve('altair-static');
    const loaded = () => Object.keys(createRequire(import.meta.url).cache).includes(key);
    const { app } = await buildApp(loadConfig({ DATABASE_URL: 'file:' + ${JSON.stringify(path.join(dir, 'ide.db'))}, LOG_LEVEL: 'silent' }));
    await app.ready();
    const atStart = loaded();
    const asset = await app.inject({ method: 'GET', url: '/altair/styles.css' });
    const afterAsset = loaded();
    const page = await app.inject({ method: 'GET', url: '/altair' });
    console.log(JSON.stringify({ atStart, afterAsset, asset: asset.statusCode, page: page.statusCode, init: page.body.includes('AltairGraphQL.init'), afterPage: loaded() }));
    await app.close();`;
  try {
    const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: root });
    expect(JSON.parse(stdout.trim().split('\n').pop()!)).toEqual({ atStart: false, afterAsset: false, asset: 200, page: 200, init: true, afterPage: true });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

it('graphql ide: /altair is not an operation of /openapi.json', async () => {
  const doc = JSON.parse((await t.app.inject({ method: 'GET', url: '/openapi.json' })).body);
  expect(Object.keys(doc.paths).filter((p) => p.startsWith('/altair'))).toEqual([]);
});

/**
 * The IDE in a real browser: headless Chromium (Debian's `chromium`, driven by playwright-core,
 * which downloads nothing) loads /altair from the service alone, a query is typed into the IDE's
 * editor and sent, and the answer the IDE shows is the service's. `.ci/run` installs Chromium, so
 * CI always runs it; on a machine without one (VSMMU_CHROMIUM or /usr/bin/chromium) it is not
 * registered, and says so.
 */
const CHROMIUM = process.env.VSMMU_CHROMIUM ?? '/usr/bin/chromium';
if (existsSync(CHROMIUM)) {
  it("graphql ide: in headless Chromium, a query typed into /altair and sent shows the service's answer; nothing comes from another origin", async () => {
    const { chromium } = await import('playwright-core');
    const b = await startApp({ env: { API_TOKENS: 'viewer-token-2:viewer' } });
    const address = await b.app.listen({ host: '127.0.0.1', port: 0 });
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      // The flags that keep Chromium from calling out (a closed network refuses it loudly).
      args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    try {
      const page = await browser.newPage();
      const foreign: string[] = [];
      const graphql: Array<{ auth: string | undefined; body: string | null }> = [];
      page.on('request', (r) => {
        if (!r.url().startsWith(address)) foreign.push(r.url());
        else if (new URL(r.url()).pathname === '/graphql') graphql.push({ auth: r.headers().authorization, body: r.postData() });
      });
      // /graphql needs a token when API_TOKENS is set: the user sets it in Altair's headers; here
      // the browser adds it to every request of the page.
      await page.setExtraHTTPHeaders({ authorization: 'Bearer viewer-token-2' });
      await page.goto(`${address}/altair`);
      // The query editor (a CodeMirror; the URL bar is another): replace its text, send.
      const query = page.locator('app-query-editor .cm-content');
      await query.waitFor({ timeout: 60_000 });
      await query.click();
      await page.keyboard.press('Control+a');
      await page.keyboard.press('Delete');
      await page.keyboard.insertText('{ smmus { name iotlbSize } }');
      await page.locator('button.send-request__button').click();
      // The answer, as the IDE's result pane shows it: the service's two SMMUs.
      await page.getByText('"smmu1"').first().waitFor({ timeout: 60_000 });
      const shown = (await page.locator('.cm-content').allInnerTexts()).join('\n');
      const answer = JSON.parse(shown.slice(shown.indexOf('{\n')));
      expect(answer).toEqual({ data: { smmus: [{ name: 'smmu0', iotlbSize: 256 }, { name: 'smmu1', iotlbSize: 256 }] } });
      expect(graphql.some((q) => q.body?.includes('smmus { name iotlbSize }') && q.auth === 'Bearer viewer-token-2')).toBe(true);
      expect(foreign).toEqual([]);
    } finally {
      await browser.close();
      await b.close();
    }
  }, 180_000);
} else {
  console.warn(`graphql ide: no Chromium at ${CHROMIUM} (apt-get install chromium, or set VSMMU_CHROMIUM): the in-browser test is not registered`);
}
