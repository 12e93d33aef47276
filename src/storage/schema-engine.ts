/**
 * Prisma's schema engine as WebAssembly (@prisma/schema-engine-wasm), so migrations run on
 * machines that cannot download the native engine (shared/docs/prisma-offline.md §2).
 * The package's ESM entry imports the .wasm file directly, which Node 20 cannot do: load the
 * bindings module, instantiate the wasm bytes ourselves and hand the exports to the bindings.
 */
import { readFile, readdir } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { PrismaBetterSqlite3 } from '@prisma/adapter-better-sqlite3';
import { bindMigrationAwareSqlAdapterFactory, type SqlDriverAdapter, type SqlMigrationAwareDriverAdapterFactory } from '@prisma/driver-adapter-utils';
import type { MigrationList, SchemaEngine as SchemaEngineType } from '@prisma/schema-engine-wasm';

const require = createRequire(import.meta.url);

// Node 20's WebAssembly global, typed minimally (lib.dom is not part of this project).
interface WasmInstance {
  exports: Record<string, unknown>;
}
const Wasm = (globalThis as unknown as {
  WebAssembly: { instantiate(bytes: Uint8Array, imports: Record<string, unknown>): Promise<{ instance: WasmInstance }> };
}).WebAssembly;

type Bindings = typeof import('@prisma/schema-engine-wasm/schema_engine_bg') & {
  __wbg_set_wasm(exports: Record<string, unknown>): void;
  SchemaEngine: typeof SchemaEngineType;
};

let bindingsPromise: Promise<Bindings> | undefined;

async function loadBindings(): Promise<Bindings> {
  bindingsPromise ??= (async () => {
    const bindings = (await import('@prisma/schema-engine-wasm/schema_engine_bg')) as unknown as Bindings;
    const wasmPath = path.join(path.dirname(require.resolve('@prisma/schema-engine-wasm/schema_engine_bg')), 'schema_engine_bg.wasm');
    const bytes = await readFile(wasmPath);
    const { instance } = await Wasm.instantiate(bytes, { './schema_engine_bg.js': bindings });
    bindings.__wbg_set_wasm(instance.exports);
    (instance.exports.__wbindgen_start as () => void)();
    return bindings;
  })();
  return bindingsPromise;
}

export interface OpenSchemaEngine {
  engine: SchemaEngineType;
  /** Frees the engine and closes the SQLite connections it opened (free() alone leaves them open
   * and the file locked for the next connection). */
  close(): Promise<void>;
}

/** Opens the schema engine on a SQLite file through the better-sqlite3 driver adapter. */
export async function openSchemaEngine(databaseFile: string, schemaContent?: string): Promise<OpenSchemaEngine> {
  const { SchemaEngine } = await loadBindings();
  const base = new PrismaBetterSqlite3({ url: `file:${databaseFile}` });
  const opened: SqlDriverAdapter[] = [];
  const tracking: SqlMigrationAwareDriverAdapterFactory = {
    provider: base.provider,
    adapterName: base.adapterName,
    connect: async () => {
      const adapter = await base.connect();
      opened.push(adapter);
      return adapter;
    },
    connectToShadowDb: async () => {
      const adapter = await base.connectToShadowDb();
      opened.push(adapter);
      return adapter;
    },
  };
  const factory = bindMigrationAwareSqlAdapterFactory(tracking);
  const datamodels: [string, string][] | undefined = schemaContent ? [['schema.prisma', schemaContent]] : undefined;
  const engine = await SchemaEngine.new({ datamodels }, () => {}, factory);
  return {
    engine,
    async close() {
      engine.free();
      for (const adapter of opened.splice(0)) await adapter.dispose();
    },
  };
}

/** Reads a Prisma migrations directory the way `prisma migrate` does. */
export async function loadMigrationList(migrationsDir: string): Promise<MigrationList> {
  const entries = existsSync(migrationsDir) ? await readdir(migrationsDir, { withFileTypes: true }) : [];
  const dirs = entries.filter((e) => e.isDirectory()).map((e) => e.name).sort();
  const migrationDirectories = await Promise.all(
    dirs.map(async (dir) => {
      const file = path.join(migrationsDir, dir, 'migration.sql');
      const content = existsSync(file)
        ? ({ tag: 'ok', value: await readFile(file, 'utf8') } as const)
        : ({ tag: 'error', value: `missing ${file}` } as const);
      return { path: dir, migrationFile: { path: 'migration.sql', content } };
    }),
  );
  const lockPath = path.join(migrationsDir, 'migration_lock.toml');
  return {
    baseDir: migrationsDir,
    lockfile: { path: 'migration_lock.toml', content: existsSync(lockPath) ? await readFile(lockPath, 'utf8') : null },
    shadowDbInitScript: '',
    migrationDirectories,
  };
}

export const NO_FILTERS = { externalTables: [], externalEnums: [] };
