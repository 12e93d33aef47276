/**
 * The document is usable, not only valid: TypeScript types are generated from the app's own
 * /openapi.json with openapi-typescript (its Node API), a short client written against them with
 * openapi-fetch is type-checked with the TypeScript compiler API (strict), and then run — as its
 * own Node process, over real HTTP — against the app listening on 127.0.0.1 (a random port). The
 * client builds a VM's graph as the README walk-through does: context, bind, hw-info, IOAS,
 * mapping, attach, nest-parent HWPT, vIOMMU, vDEVICE, nested HWPT, attach to it, a destroy the
 * vIOMMU's users refuse (EBUSY), and the context's close.
 *
 * The client also holds calls that must NOT type-check (`@ts-expect-error`): were the generated
 * types loose (`any`, a missing schema), the compiler would report those directives as unused.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import openapiTS, { astToString, type OpenAPI3 } from 'openapi-typescript';
import * as ts from 'typescript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApp, type TestApp } from '../helper.js';

const run = promisify(execFile);

/** The client: plain TypeScript against the generated `paths` and `components`. */
const CLIENT = String.raw`
import createClient from 'openapi-fetch';
import type { components, paths } from './schema.js';

type Schemas = components['schemas'];

/** The answer's data when the status is the documented success, else an error naming both. */
function ok<T>(what: string, r: { data?: T; error?: unknown; response: Response }, status: number): T {
  if (r.response.status !== status || r.data === undefined) throw new Error(what + ': ' + r.response.status + ' ' + JSON.stringify(r.error));
  return r.data;
}

export async function buildVm(baseUrl: string) {
  const client = createClient<paths>({ baseUrl });

  const smmus = ok('smmus', await client.GET('/v1/smmus'), 200);
  const devices = ok('devices', await client.GET('/v1/devices', { params: { query: { limit: '500' } } }), 200);
  const nic0: Schemas['Device'] | undefined = devices.items.find((d) => d.name === 'nic0');
  if (!nic0) throw new Error('no nic0');
  const dev = String(nic0.id);

  const ctx = ok('context', await client.POST('/v1/contexts', { body: { name: 'vm1' } }), 201);
  const bound = ok('bind', await client.POST('/v1/contexts/{id}/devices', { params: { path: { id: String(ctx.id) } }, body: { deviceId: nic0.id } }), 201);
  const info = ok('hw-info', await client.GET('/v1/devices/{id}/hw-info', { params: { path: { id: dev }, query: { type: 'arm_smmuv3' } } }), 200);
  const idr0 = info.type === 'arm_smmuv3' ? info.data.idr[0] : null;

  const ioas = ok('ioas', await client.POST('/v1/ioas', { body: { contextId: ctx.id } }), 201);
  const mapping = ok('map', await client.POST('/v1/ioas/{id}/mappings', { params: { path: { id: String(ioas.id) } }, body: { iova: '0x80000000', length: '0x40000000' } }), 201);
  const attached = ok('attach', await client.PUT('/v1/devices/{id}/attachment', { params: { path: { id: dev } }, body: { ptId: ioas.id } }), 200);

  const parent = ok('nest parent', await client.POST('/v1/hwpts', { body: { deviceId: nic0.id, ptId: ioas.id, flags: ['nest_parent'] } }), 201);
  if (parent.type !== 'hwpt_paging') throw new Error('the nest parent is ' + parent.type);
  const viommu = ok('viommu', await client.POST('/v1/viommus', { body: { deviceId: nic0.id, hwptId: parent.id, type: 'arm_smmuv3' } }), 201);
  const vdevice = ok('vdevice', await client.POST('/v1/vdevices', { body: { viommuId: viommu.id, deviceId: nic0.id, virtId: 8 } }), 201);
  const nested = ok(
    'nested',
    await client.POST('/v1/hwpts', { body: { deviceId: nic0.id, ptId: viommu.id, data: { type: 'arm_smmuv3', ste: ['0x000000008000000b', '0x0'] } } }),
    201,
  );
  if (nested.type !== 'hwpt_nested') throw new Error('the nested HWPT is ' + nested.type);
  const replaced = ok('replace', await client.PUT('/v1/devices/{id}/attachment', { params: { path: { id: dev } }, body: { ptId: nested.id } }), 200);

  const busy = await client.DELETE('/v1/objects/{id}', { params: { path: { id: String(viommu.id) } } });
  const graph = ok('graph', await client.GET('/v1/objects', { params: { query: { contextId: String(ctx.id) } } }), 200);
  const closed = ok('close', await client.DELETE('/v1/contexts/{id}', { params: { path: { id: String(ctx.id) } } }), 200);

  return {
    smmus: smmus.items.map((s) => s.name),
    boundTo: bound.contextId,
    idr0,
    mapping: { iova: mapping.iova, hostAddress: mapping.hostAddress },
    autoHwpt: attached.attachedTo,
    parent: { stage: parent.stage, vmid: parent.vmid, nestParent: parent.nestParent },
    viommu: { id: viommu.id, vmid: viommu.vmid },
    vdevice: { virtId: vdevice.virtId, physicalStreamId: vdevice.physicalStreamId },
    nested: { id: nested.id, config: nested.vste.config },
    replaced: { attachedTo: replaced.attachedTo, config: replaced.host.config },
    busy: { status: busy.response.status, errno: busy.error?.errno, blockedBy: busy.error?.blockedBy },
    types: graph.items.map((o) => o.type),
    destroyed: closed.destroyedObjects.length,
    unbound: closed.unboundDevices,
  };
}

/** Calls the types refuse: each line must be a type error (else the directive is unused, an error itself). */
export function refusedByTheTypes(client: ReturnType<typeof createClient<paths>>, viommu: Schemas['Viommu'], smmu: Schemas['Smmu']) {
  // @ts-expect-error: contextId is a number
  void client.POST('/v1/ioas', { body: { contextId: 'eleven' } });
  // @ts-expect-error: a flag the enum does not have
  void client.POST('/v1/hwpts', { body: { deviceId: 1, ptId: 2, flags: ['nesting'] } });
  // @ts-expect-error: no such path
  void client.GET('/v1/nothing');
  // @ts-expect-error: the path parameter is required
  void client.GET('/v1/viommus/{id}', {});
  // @ts-expect-error: the VMID is a number
  const vmid: string = viommu.vmid;
  // @ts-expect-error: the IDR is six u32 numbers, not hex strings
  const idr: string[] = smmu.idr;
  return [vmid, idr];
}

const result = await buildVm(process.argv[2]);
console.log(JSON.stringify(result));
`;

let t: TestApp;
let dir: string;
let baseUrl: string;
beforeAll(async () => {
  t = await startApp();
  await t.app.listen({ host: '127.0.0.1', port: 0 });
  const address = t.app.server.address();
  if (address === null || typeof address === 'string') throw new Error('no TCP address');
  baseUrl = `http://127.0.0.1:${address.port}`;
  dir = mkdtempSync(path.join(os.tmpdir(), 'vsmmu-client-'));
  // The client resolves openapi-fetch (and @types/node) from the project's node_modules.
  symlinkSync(path.resolve('node_modules'), path.join(dir, 'node_modules'), 'dir');
});
afterAll(async () => {
  await t?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('OpenAPI: a typed client generated from /openapi.json', () => {
  it('openapi client: openapi-typescript types from /openapi.json type-check an openapi-fetch client that builds a VM graph, and the client runs against the app over HTTP', async () => {
    // 1. Types from the document the app serves (fetched over the wire, as a client would).
    const doc = (await (await fetch(`${baseUrl}/openapi.json`)).json()) as OpenAPI3;
    const types = astToString(await openapiTS(doc, { silent: true }));
    expect(types).toMatch(/"\/v1\/viommus": \{/);
    writeFileSync(path.join(dir, 'schema.d.ts'), types);
    writeFileSync(path.join(dir, 'client.mts'), CLIENT);

    // 2. Type-check (strict) and emit the client with the compiler API.
    const program = ts.createProgram([path.join(dir, 'client.mts')], {
      strict: true,
      target: ts.ScriptTarget.ES2022,
      module: ts.ModuleKind.NodeNext,
      moduleResolution: ts.ModuleResolutionKind.NodeNext,
      lib: ['lib.es2023.d.ts', 'lib.dom.d.ts'],
      types: ['node'],
      skipLibCheck: true,
      noEmitOnError: true,
      outDir: dir,
      rootDir: dir,
    });
    const diagnostics = ts.getPreEmitDiagnostics(program).map((d) => {
      const where = d.file && d.start !== undefined ? `${path.basename(d.file.fileName)}:${d.file.getLineAndCharacterOfPosition(d.start).line + 1} ` : '';
      return `${where}${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`;
    });
    expect(diagnostics).toEqual([]);
    expect(program.emit().emitSkipped).toBe(false);

    // 3. Run it against the app on 127.0.0.1.
    const { stdout } = await run(process.execPath, [path.join(dir, 'client.mjs'), baseUrl], { timeout: 20_000 });
    const out = JSON.parse(stdout);
    expect(out.smmus).toEqual(['smmu0', 'smmu1']);
    expect(out.boundTo).toBeGreaterThan(0);
    expect(typeof out.idr0).toBe('number');
    expect(out.mapping.iova).toBe('0x80000000');
    expect(out.autoHwpt).toBeGreaterThan(0);
    expect(out.parent).toMatchObject({ stage: 2, nestParent: true });
    expect(out.parent.vmid).toBeGreaterThan(0);
    expect(out.viommu.vmid).toBeGreaterThan(0);
    expect(out.vdevice).toEqual({ virtId: 8, physicalStreamId: 0x100 });
    expect(out.nested.config).toBe('s1_translate');
    expect(out.replaced).toEqual({ attachedTo: out.nested.id, config: 'nested' });
    expect(out.busy.status).toBe(409);
    expect(out.busy.errno).toBe('EBUSY');
    expect(out.busy.blockedBy.length).toBeGreaterThan(0);
    // The auto HWPT of the first attach left with its device (replaced by the nested one).
    expect([...out.types].sort()).toEqual(['hwpt_nested', 'hwpt_paging', 'ioas', 'vdevice', 'viommu']);
    expect(out.destroyed).toBe(5);
    expect(out.unbound).toHaveLength(1);
  });
});
