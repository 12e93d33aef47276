// `prisma generate` offline (shared/docs/prisma-offline.md): every Prisma CLI command first
// "ensures" the native schema engine and would download it from Prisma's binary server, which this
// project's machines cannot reach. PRISMA_SCHEMA_ENGINE_BINARY naming any existing file skips that
// download; `generate` never runs the engine (the client is TypeScript + a wasm query compiler).
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const cli = require.resolve('prisma/build/index.js');
const env = { ...process.env, PRISMA_SCHEMA_ENGINE_BINARY: process.execPath, PRISMA_HIDE_UPDATE_MESSAGE: '1' };
const result = spawnSync(process.execPath, [cli, 'generate', '--schema', 'prisma/schema.prisma'], {
  stdio: 'inherit',
  env,
});
process.exit(result.status ?? 1);
