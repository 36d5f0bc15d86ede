import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import type { TestProject } from 'vitest/node';
import { createDatabase } from '../../db/index.js';
import { migrateToLatest } from '../../db/migrate.js';
import { startEmbeddedPostgres, type RunningPostgres } from '../../db/embedded.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** A connection string to a maintenance database on the test server. */
    pgAdminUrl: string;
    /** The migrated database every test file clones. */
    templateDatabase: string;
    /** A clone of the template shared by every fast test (tests/helpers/domain-tx.ts), which only writes in transactions it rolls back. */
    domainDatabase: string;
  }
}

export const withDatabase = (url: string, database: string) => {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
};

/**
 * Starts PostgreSQL once for the whole run (TEST_DATABASE_URL's server when set, else an embedded
 * one in a temp folder) and migrates a template database that each test file clones.
 */
export default async function setup(project: TestProject) {
  let embedded: RunningPostgres | undefined;
  let adminUrl = process.env.TEST_DATABASE_URL;
  if (!adminUrl) {
    embedded = await startEmbeddedPostgres({
      dataDir: path.join(os.tmpdir(), `perpetua-test-pg-${process.pid}`),
      port: 0,
      persistent: false,
    });
    adminUrl = embedded.url;
  }
  const templateDatabase = `pf_template_${process.pid}_${Date.now().toString(36)}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    await admin.query(`create database ${templateDatabase}`);
    const { db, pool } = createDatabase(withDatabase(adminUrl, templateDatabase), { max: 2 });
    try {
      await migrateToLatest(db, pool);
    } finally {
      await db.destroy();
    }
  } catch (err) {
    await admin.end();
    await embedded?.stop();
    throw err;
  }
  const domainDatabase = `${templateDatabase}_domain`;
  await admin.query(`create database ${domainDatabase} template ${templateDatabase}`);
  await admin.end();

  project.provide('pgAdminUrl', adminUrl);
  project.provide('templateDatabase', templateDatabase);
  project.provide('domainDatabase', domainDatabase);

  return async () => {
    const c = new pg.Client({ connectionString: adminUrl });
    await c.connect();
    await c.query(`drop database if exists ${templateDatabase}_domain with (force)`);
    await c.query(`drop database if exists ${templateDatabase} with (force)`);
    // Databases of test files that crashed before their own teardown.
    const stale = await c.query<{ datname: string }>(`select datname from pg_database where datname like '${templateDatabase}_f_%'`);
    // (and those a file's close() was still dropping in the background when its worker ended)
    for (const r of stale.rows) await c.query(`drop database if exists ${r.datname} with (force)`).catch(() => {});
    await c.end();
    await embedded?.stop();
  };
}
