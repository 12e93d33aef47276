/**
 * The GraphQL IDE at /altair (src/routes/graphql/ide.ts): its page and every asset the page names
 * are served by the service from the npm package (no CDN: it works without internet), open like
 * /docs even when API_TOKENS is set, while /graphql keeps its roles.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
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

it('graphql ide: /altair is not an operation of /openapi.json', async () => {
  const doc = JSON.parse((await t.app.inject({ method: 'GET', url: '/openapi.json' })).body);
  expect(Object.keys(doc.paths).filter((p) => p.startsWith('/altair'))).toEqual([]);
});

/**
 * The IDE in a real browser: headless Chromium loads /altair and its scripts and styles from the
 * service alone (a query typed into the IDE is not driven here: see .tmp/notes-graphql.md). Registered only with VSMMU_BROWSER_TESTS=1 (CI has no
 * browser unless it installs one); then a missing Chromium fails the test, saying how to install it.
 */
const CHROMIUM = process.env.VSMMU_CHROMIUM ?? '/usr/bin/chromium';
if (process.env.VSMMU_BROWSER_TESTS === '1') {
  it('graphql ide: headless Chromium renders /altair from the service\'s own assets and asks nothing else', async () => {
    const { existsSync } = await import('node:fs');
    const { execFile } = await import('node:child_process');
    if (!existsSync(CHROMIUM)) throw new Error(`VSMMU_BROWSER_TESTS=1 needs Chromium at ${CHROMIUM}: apt-get update && apt-get install -y chromium (or set VSMMU_CHROMIUM)`);
    const b = await startApp();
    try {
      const assets: string[] = [];
      const others: string[] = [];
      b.app.server.on('request', (req) => {
        if (req.url?.startsWith('/altair')) assets.push(req.url);
        else if (req.url !== '/graphql') others.push(`${req.method} ${req.url}`);
      });
      const address = await b.app.listen({ host: '127.0.0.1', port: 0 });
      const dom = await new Promise<string>((resolve, reject) =>
        execFile(
          CHROMIUM,
          ['--headless', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run', '--virtual-time-budget=30000', '--dump-dom', `${address}/altair`],
          { timeout: 120_000, maxBuffer: 64 * 1024 * 1024 },
          (err, stdout) => (err ? reject(err) : resolve(stdout)),
        ),
      );
      // The browser rendered the IDE from the service's own assets (the page, its scripts and
      // styles) and asked the service for nothing else.
      expect(dom).toContain('<app-root');
      expect(dom).toMatch(/altair/i);
      expect(assets).toEqual(expect.arrayContaining(['/altair', '/altair/main.js', '/altair/polyfills.js', '/altair/styles.css']));
      expect(others).toEqual([]);
    } finally {
      await b.close();
    }
  }, 180_000);
}
