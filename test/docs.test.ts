/**
 * /docs: the interactive API reference (@fastify/swagger-ui) is served by the service itself —
 * its HTML, JavaScript and CSS come from the npm package, nothing from a CDN — it loads the same
 * document as /openapi.json, and like /openapi.json it is open (a browser sends no token).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApp, type TestApp } from './helper.js';

let t: TestApp;
beforeAll(async () => {
  t = await startApp({ env: { API_TOKENS: 'viewer-token-1:viewer' } });
});
afterAll(async () => t?.close());

/** Every script and stylesheet an HTML page loads. */
const assetsOf = (html: string): string[] => [...html.matchAll(/<(?:script[^>]*\ssrc|link[^>]*\shref)="([^"]+)"/g)].map((m) => m[1]);

describe('/docs', () => {
  it('docs: GET /docs answers the Swagger UI page (HTML), without a token', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/docs' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/html/);
    expect(res.body).toMatch(/<div id="swagger-ui">/);
    const slash = await t.app.inject({ method: 'GET', url: '/docs/' });
    expect(slash.statusCode).toBe(200);
    expect(slash.headers['content-type']).toMatch(/^text\/html/);
  });

  it('docs: every script and stylesheet of the page is served by the service from the package (no CDN), as JavaScript or CSS', async () => {
    const html = (await t.app.inject({ method: 'GET', url: '/docs' })).body;
    const assets = assetsOf(html);
    expect(assets.filter((a) => /\.js$/.test(a)).length).toBeGreaterThanOrEqual(3);
    expect(assets.filter((a) => /\.css$/.test(a)).length).toBeGreaterThanOrEqual(1);
    for (const asset of assets) {
      expect(asset, 'a local path').toMatch(/^\/docs\/static\/[\w.-]+$/);
      const res = await t.app.inject({ method: 'GET', url: asset });
      expect(res.statusCode, asset).toBe(200);
      if (asset.endsWith('.js')) expect(res.headers['content-type'], asset).toMatch(/^(application|text)\/javascript/);
      if (asset.endsWith('.css')) expect(res.headers['content-type'], asset).toMatch(/^text\/css/);
      expect(res.rawPayload.length, asset).toBeGreaterThan(100);
    }
    // The bundle is the package's own file.
    const bundle = await t.app.inject({ method: 'GET', url: '/docs/static/swagger-ui-bundle.js' });
    expect(bundle.rawPayload.length).toBeGreaterThan(500_000);
    // The page's policy allows this origin only, for scripts, styles and fonts alike.
    const csp = String((await t.app.inject({ method: 'GET', url: '/docs' })).headers['content-security-policy']);
    expect(csp).toMatch(/script-src 'self'/);
    expect(csp).not.toMatch(/https:|http:|validator\.swagger\.io|upgrade-insecure-requests/);
  });

  it('docs: the UI loads the same document as /openapi.json, with no online validator', async () => {
    const init = (await t.app.inject({ method: 'GET', url: '/docs/static/swagger-initializer.js' })).body;
    expect(init).toMatch(/url: resolveUrl\('\.\/json'\)/);
    expect(init).toMatch(/validatorUrl: null/);
    const json = await t.app.inject({ method: 'GET', url: '/docs/json' });
    expect(json.statusCode).toBe(200);
    expect(JSON.parse(json.body)).toEqual((await t.req('GET', '/openapi.json')).body);
  });

  it('docs: the UI routes are not operations of the document', async () => {
    const doc = (await t.req('GET', '/openapi.json')).body;
    expect(Object.keys(doc.paths).filter((p) => p.startsWith('/docs'))).toEqual([]);
  });
});
