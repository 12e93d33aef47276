/**
 * Responses against /openapi.json: for one answer of the service, the operation the document
 * gives for its method and path, whether its status is documented (exactly, as `4XX`, or as
 * `default`), whether its content type is one the documented response has, and whether its body
 * validates against the documented schema (ajv, JSON Schema 2020-12 as OpenAPI 3.1 has it).
 *
 * Used by test/helper.ts on every answer `t.req` and `t.gql` receive (strict by default; see
 * VSMMU_CHECK_RESPONSES there), and by test/reliability/openapi.test.ts. Paths the document does
 * not describe (/docs, unknown routes) are not checked. A HEAD request is checked against the
 * path's GET operation (Fastify answers HEAD for every GET route, without a body). A JSON body is
 * validated as parsed; any other media type (octet-stream, text/plain) as the raw text.
 */
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import formatsModule from 'ajv-formats';

// ajv-formats is CommonJS with `exports.default`: under Node's ESM interop the plugin is `.default`.
const addFormats = ((formatsModule as unknown as { default?: unknown }).default ?? formatsModule) as (ajv: Ajv2020) => Ajv2020;

export type MismatchKind =
  /** The route answered a status its operation does not document. */
  | 'status'
  /** The documented response has content, but not of this type. */
  | 'content-type'
  /** The body does not validate against the documented schema. */
  | 'schema'
  /** The documented response has no schema (or no content) for a body the route sent. */
  | 'no-schema'
  /** The path is documented, the method is not. */
  | 'method';

export interface ResponseMismatch {
  kind: MismatchKind;
  method: string;
  /** The document's path template, e.g. /v1/ioas/{id}/mappings. */
  route: string;
  url: string;
  status: number;
  detail: string;
}

export interface CheckedResponse {
  status: number;
  headers: Record<string, unknown>;
  body: unknown;
  raw: string;
}

interface Route {
  template: string;
  re: RegExp;
  params: number;
  item: Record<string, any>;
}

/**
 * Kinds a strict check fails on: a wrong status, type or body, an undocumented method, and a body
 * the document gives no schema for (every answer with a body must be documented with its schema).
 */
export const FAILING_KINDS: ReadonlySet<MismatchKind> = new Set(['status', 'content-type', 'schema', 'method', 'no-schema']);

/** Media types whose bodies are JSON (validated parsed); everything else is validated as text. */
const isJson = (type: string): boolean => type === 'application/json' || type.endsWith('+json');

export class OpenApiResponseChecker {
  private readonly routes: Route[];
  private readonly ajv: Ajv2020;
  private readonly validators = new Map<string, ValidateFunction>();

  constructor(readonly doc: Record<string, any>) {
    this.routes = Object.entries<Record<string, any>>(doc.paths ?? {}).map(([template, item]) => {
      const params = (template.match(/\{[^}]+\}/g) ?? []).length;
      const re = new RegExp(`^${template.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\\?\{[^}]+\\?\}/g, '[^/]+')}$`);
      return { template, re, params, item };
    });
    // Literal segments win over parameters (/v1/objects/{id}/invalidate before /v1/objects/{id}).
    this.routes.sort((a, b) => a.params - b.params);
    this.ajv = new Ajv2020({ strict: false, allErrors: true, validateFormats: true });
    addFormats(this.ajv);
    // OpenAPI's annotation for raw bytes (octet-stream bodies): any string.
    this.ajv.addFormat('binary', true);
    this.ajv.addSchema({ $id: 'openapi.json', components: doc.components ?? {} });
  }

  /** The document's route of a request path (query stripped), or null. */
  route(url: string): Route | null {
    const pathname = url.split('?')[0];
    return this.routes.find((r) => r.re.test(pathname)) ?? null;
  }

  check(method: string, url: string, res: CheckedResponse): ResponseMismatch[] {
    const route = this.route(url);
    if (!route) return [];
    const m = method.toLowerCase() === 'head' ? 'get' : method.toLowerCase();
    const base = { method: method.toUpperCase(), route: route.template, url, status: res.status };
    const op = route.item[m];
    if (!op) {
      // No such operation: the service's unknown-route answer (404 ENOENT) is not checked, as for
      // an undocumented path; any other answer means an operation the document lacks.
      if (res.status === 404 && (res.body as { errno?: unknown } | undefined)?.errno === 'ENOENT') return [];
      // A method the path does not have: 405 EMETHOD with Allow (routes/rest/index.ts), the same
      // for every path, so not documented per operation.
      if (res.status === 405 && (res.body as { errno?: unknown } | undefined)?.errno === 'EMETHOD' && res.headers.allow !== undefined) return [];
      return [{ ...base, kind: 'method', detail: `${base.method} is not documented for ${route.template}` }];
    }
    const responses: Record<string, any> = op.responses ?? {};
    const documented = responses[String(res.status)] ?? responses[`${String(res.status)[0]}XX`] ?? responses.default;
    if (!documented) {
      return [{ ...base, kind: 'status', detail: `status ${res.status} not documented (documented: ${Object.keys(responses).join(', ') || 'none'})` }];
    }
    const hasBody = res.raw !== undefined && res.raw !== '';
    const content: Record<string, any> | undefined = documented.content;
    if (!hasBody) {
      // A documented body that did not come (HEAD answers none by definition).
      if (m === method.toLowerCase() && content && Object.keys(content).length > 0) return [{ ...base, kind: 'schema', detail: `status ${res.status} documents ${Object.keys(content).join(', ')}; the route sent no body` }];
      return [];
    }
    const type = String(res.headers['content-type'] ?? '').split(';')[0].trim();
    if (!content || Object.keys(content).length === 0) {
      return [{ ...base, kind: 'no-schema', detail: `status ${res.status} (${documented.description ?? 'no description'}) documents no content; the route sent ${type || 'a body'}` }];
    }
    const media = content[type] ?? content['*/*'];
    if (!media) return [{ ...base, kind: 'content-type', detail: `content type ${type || '(none)'} not documented for ${res.status} (documented: ${Object.keys(content).join(', ')})` }];
    if (!media.schema) return [{ ...base, kind: 'no-schema', detail: `${type} of status ${res.status} has no schema` }];
    const validate = this.validator(media.schema);
    if (validate(isJson(type) ? res.body : res.raw)) return [];
    const errors = (validate.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message}`).join('; ');
    return [{ ...base, kind: 'schema', detail: `body does not match the documented schema of ${res.status} ${type}: ${errors}` }];
  }

  private validator(schema: Record<string, unknown>): ValidateFunction {
    const key = JSON.stringify(schema);
    const known = this.validators.get(key);
    if (known) return known;
    // Refs of the document (#/components/…) resolve against it.
    const v = this.ajv.compile(JSON.parse(key.replace(/"\$ref":"#\/components\//g, '"$ref":"openapi.json#/components/')));
    this.validators.set(key, v);
    return v;
  }
}

/** "route status kind: detail" lines, one per distinct mismatch, sorted. */
export function summarize(mismatches: ResponseMismatch[]): string[] {
  const lines = new Set(mismatches.map((m) => `${m.method} ${m.route} ${m.status} ${m.kind}: ${m.detail.replace(/"requestId":"[^"]+"/g, '')}`));
  return [...lines].sort();
}
