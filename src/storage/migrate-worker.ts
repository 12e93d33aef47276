/**
 * The child process of `applyPendingMigrationsIsolated` (migrate.ts): applies the pending
 * migrations to the file named by its first argument (the directory by its second) and sends the
 * answer over the IPC channel. Nothing is imported statically: this process must choose its
 * better-sqlite3 (sqlite-driver.ts, a resolve hook on Node ≥ 22) before anything that imports
 * better-sqlite3 or the Prisma adapter is linked.
 */
export type MigrationAnswer = { ok: true; applied: string[] } | { ok: false; message: string; stack?: string };

const [databaseFile, migrationsDir] = process.argv.slice(2);
let answer: MigrationAnswer;
try {
  await import('./sqlite-driver.js');
  const { applyPendingMigrations } = await import('./migrate.js');
  answer = { ok: true, applied: await applyPendingMigrations(databaseFile, migrationsDir) };
} catch (err) {
  answer = { ok: false, message: err instanceof Error ? err.message : String(err), stack: err instanceof Error ? err.stack : undefined };
}
process.send!(answer, () => process.disconnect());
