/**
 * Issue 14: deploy/grafana/vsmmu.json, the dashboard for /metrics: every PromQL expression in it
 * (panel targets and template variables) names only metrics a real /metrics answer of the app
 * exports, so a renamed metric fails here instead of leaving an empty panel.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildViommu, startApp, type TestApp } from '../helper.js';
import { ROOT } from './support.js';

const PROMQL_KEYWORDS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'bool', 'and', 'or', 'unless', 'offset', 'inf', 'nan']);

/** The metric names a PromQL expression selects (functions, label matchers, grouping labels, ranges and strings removed). */
export function metricNames(expr: string): string[] {
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ');
  const names = new Set<string>();
  for (const m of stripped.matchAll(/[a-zA-Z_:][a-zA-Z0-9_:]*/g)) {
    const word = m[0];
    const before = stripped[m.index - 1];
    if (PROMQL_KEYWORDS.has(word.toLowerCase()) || (before !== undefined && /[0-9.]/.test(before))) continue; // 1e-9
    // A name followed by `(` is a function (sum, rate, histogram_quantile, …).
    const after = stripped.slice(m.index + word.length);
    if (/^\s*\(/.test(after)) continue;
    names.add(word);
  }
  return [...names];
}

/** Every expression of the dashboard: panel targets and the template variables' queries. */
function expressions(dashboard: any): string[] {
  const out: string[] = [];
  const walk = (panels: any[]) => {
    for (const p of panels ?? []) {
      for (const target of p.targets ?? []) if (typeof target.expr === 'string') out.push(target.expr);
      walk(p.panels);
    }
  };
  walk(dashboard.panels);
  for (const v of dashboard.templating?.list ?? []) {
    const q = typeof v.query === 'string' ? v.query : v.query?.query;
    if (v.type === 'query' && typeof q === 'string') {
      const m = /^label_values\((.+),\s*[a-zA-Z_]+\)$/.exec(q.trim());
      out.push(m ? m[1] : q);
    }
  }
  return out;
}

describe('grafana dashboard', () => {
  let t: TestApp;
  let exported: Set<string>;
  beforeAll(async () => {
    t = await startApp({ checkResponses: 'off' });
    // Traffic, so histograms, problems and the SMMU counters have samples.
    await buildViommu(t);
    await t.req('GET', '/v1/objects/4294967295');
    const text = (await t.req('GET', '/metrics')).raw;
    exported = new Set(text.split('\n').filter((l) => l && !l.startsWith('#')).map((l) => l.split(/[{ ]/)[0]));
  });
  afterAll(async () => {
    await t.close();
  });

  it('grafana: the PromQL name extraction skips functions, labels, grouping, ranges and numbers', () => {
    expect(metricNames('sum by (le, route) (rate(a_bucket{instance=~"$instance"}[$__rate_interval])) / clamp_min(rate(b_total[5m]) + c, 1e-9)').sort()).toEqual(['a_bucket', 'b_total', 'c']);
  });

  it('grafana: every query of deploy/grafana/vsmmu.json names a metric that /metrics really exports', () => {
    const dashboard = JSON.parse(readFileSync(path.join(ROOT, 'deploy/grafana/vsmmu.json'), 'utf8'));
    const exprs = expressions(dashboard);
    expect(exprs.length).toBeGreaterThan(10);
    const missing: string[] = [];
    for (const expr of exprs) {
      const names = metricNames(expr);
      expect(names.length, expr).toBeGreaterThan(0);
      for (const name of names) if (!exported.has(name)) missing.push(`${name} (in ${expr})`);
    }
    expect(missing).toEqual([]);
    // Every panel has a query, a datasource variable, and a unique id.
    const ids = dashboard.panels.map((p: { id: number }) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const p of dashboard.panels) expect(p.targets.length, p.title).toBeGreaterThan(0);
  });
});
