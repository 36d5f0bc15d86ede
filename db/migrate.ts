import fs from 'node:fs/promises';
import path from 'node:path';
import { Migrator, sql, type Kysely, type Migration, type MigrationProvider } from 'kysely';
import { runMigrations as runWorkerMigrations } from 'graphile-worker';
import type pg from 'pg';
import { PROJECT_ROOT } from '../src/project-root.js';

const migrationsDir = path.join(PROJECT_ROOT, 'db', 'migrations');

/** Forward-only SQL migrations, applied in file-name order, each in its own transaction. */
const sqlFileProvider: MigrationProvider = {
  async getMigrations() {
    const files = (await fs.readdir(migrationsDir)).filter((f) => f.endsWith('.sql')).sort();
    const migrations: Record<string, Migration> = {};
    for (const file of files) {
      const text = await fs.readFile(path.join(migrationsDir, file), 'utf8');
      migrations[file.replace(/\.sql$/, '')] = { up: async (db) => void (await sql.raw(text).execute(db)) };
    }
    return migrations;
  },
};

/**
 * Brings the schema up to date: our tables, then graphile-worker's. Safe to run from several
 * processes at once: they take turns under one session-level advisory lock (the same key space as
 * the per-user locks, `hashtextextended(purpose:key)`), because each migrator reads the catalog
 * while the other may be changing it (seen: the API's Kysely migrator failing on a graphile-worker
 * table the worker's migration had just replaced, both starting on a fresh database).
 */
export async function migrateToLatest(db: Kysely<any>, pool: pg.Pool): Promise<string[]> {
  const lock = await pool.connect();
  try {
    await lock.query(`select pg_advisory_lock(hashtextextended('migrations:schema', 0))`);
    return await migrateHoldingLock(db, pool);
  } finally {
    await lock.query(`select pg_advisory_unlock(hashtextextended('migrations:schema', 0))`).catch(() => undefined);
    lock.release();
  }
}

async function migrateHoldingLock(db: Kysely<any>, pool: pg.Pool): Promise<string[]> {
  const migrator = new Migrator({ db, provider: sqlFileProvider, allowUnorderedMigrations: false });
  const { error, results } = await migrator.migrateToLatest();
  const failed = results?.find((r) => r.status === 'Error');
  if (error || failed) {
    const reason = error instanceof Error ? error.message : String(error ?? 'unknown error');
    throw new Error(`Migration ${failed?.migrationName ?? ''} failed: ${reason}`);
  }
  await runWorkerMigrations({ pgPool: pool });
  return (results ?? []).map((r) => r.migrationName);
}
