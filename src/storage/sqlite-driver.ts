/**
 * Which better-sqlite3 this process loads: version 12 on Node 20, version 13 on Node ≥ 22.
 *
 * better-sqlite3 12 compiled against Node 24's headers inherits a `node::ObjectWrap` that
 * registers an environment cleanup hook for every Database and Statement and removes it in its
 * destructor. When V8 collects such a wrapper outside any JavaScript context (a collection run
 * from a platform task, or during the environment's teardown) the removal finds no environment and
 * Node aborts the process ("Assertion failed: (env) != nullptr" in RemoveEnvironmentCleanupHook);
 * here it killed Vitest workers in the middle of test/storage.test.ts. better-sqlite3 13 (the same
 * API on node-addon-api) fixes it, but needs Node ≥ 22 and crashes on Node 20. So both are
 * installed (`better-sqlite3-13` is an npm alias of 13) and, on Node ≥ 22, a resolve hook sends
 * every `better-sqlite3` specifier — ours, the tests', and the one inside
 * `@prisma/adapter-better-sqlite3` — to 13.
 *
 * A resolve hook applies to what is resolved after it is registered: import this module before
 * anything that imports better-sqlite3 or the Prisma adapter is even linked (src/server.ts and the
 * scripts import the rest dynamically after it; Vitest loads it as a setup file).
 */
import nodeModule from 'node:module';

type ResolveHook = (
  specifier: string,
  context: unknown,
  next: (specifier: string, context?: unknown) => unknown,
) => unknown;
type RegisterHooks = (hooks: { resolve: ResolveHook }) => unknown;

const NODE_MAJOR = Number(process.versions.node.split('.')[0]);
const REGISTERED = Symbol.for('vsmmu-control.sqliteDriver');

/** The package that `better-sqlite3` resolves to in this process. */
export const SQLITE_DRIVER = NODE_MAJOR >= 22 ? 'better-sqlite3-13' : 'better-sqlite3';

if (SQLITE_DRIVER !== 'better-sqlite3') {
  const registerHooks = (nodeModule as unknown as { registerHooks?: RegisterHooks }).registerHooks;
  if (!registerHooks) {
    throw new Error(`Node ${process.versions.node} lacks module.registerHooks (22.15 or later needed: package.json engines)`);
  }
  const marks = globalThis as unknown as Record<symbol, boolean>;
  if (!marks[REGISTERED]) {
    marks[REGISTERED] = true;
    registerHooks({
      resolve: (specifier, context, next) => next(specifier === 'better-sqlite3' ? SQLITE_DRIVER : specifier, context),
    });
  }
}
