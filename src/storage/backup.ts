/**
 * A consistent copy of the database while the service runs: SQLite's online backup API
 * (better-sqlite3 `backup()`), from a connection of its own. The durable state is the database
 * file and its WAL; the backup folds both into one self-contained file, which a new start opens
 * like any database (`DATABASE_URL=file:<copy>`). Written to `<dest>.partial` and renamed, so a
 * failed or interrupted backup never leaves a file that looks complete.
 */
import { existsSync, renameSync, rmSync } from 'node:fs';
import Database from 'better-sqlite3';

export interface BackupResult {
  file: string;
  pages: number;
}

export async function backupDatabase(source: string, dest: string): Promise<BackupResult> {
  if (!existsSync(source)) throw new Error(`no database at ${source}`);
  const partial = `${dest}.partial`;
  rmSync(partial, { force: true });
  // Read-write (not readonly): a readonly connection cannot recover a WAL left by a crash.
  const db = new Database(source, { fileMustExist: true, timeout: 5000 });
  try {
    const { totalPages } = await db.backup(partial);
    renameSync(partial, dest);
    return { file: dest, pages: totalPages };
  } catch (err) {
    rmSync(partial, { force: true });
    throw err;
  } finally {
    db.close();
  }
}
