// `npm run db:codegen`: migrates a fresh temporary database and writes db/schema/generated.ts from
// it. `--check` (npm run db:codegen:check) compares instead and exits 1 on drift.
// The server: TEST_DATABASE_URL when set (as npm test), else an embedded PostgreSQL in a temp folder.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { GENERATED_FILE, generateSchemaTypes } from '../db/codegen.js';
import { startEmbeddedPostgres, type RunningPostgres } from '../db/embedded.js';
import { createDatabase } from '../db/index.js';
import { migrateToLatest } from '../db/migrate.js';
import { PROJECT_ROOT } from '../src/project-root.js';

const check = process.argv.includes('--check');
const target = path.join(PROJECT_ROOT, GENERATED_FILE);

function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

async function main(): Promise<number> {
  let embedded: RunningPostgres | undefined;
  let adminUrl = process.env.TEST_DATABASE_URL;
  if (!adminUrl) {
    embedded = await startEmbeddedPostgres({ dataDir: path.join(os.tmpdir(), `perpetua-codegen-pg-${process.pid}`), port: 0, persistent: false });
    adminUrl = embedded.url;
  }
  const name = `pf_codegen_${process.pid}_${Date.now().toString(36)}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    await admin.query(`create database ${name}`);
    const { db, pool } = createDatabase(withDatabase(adminUrl, name), { max: 2 });
    let text: string;
    try {
      await migrateToLatest(db, pool);
      text = await generateSchemaTypes(db);
    } finally {
      await db.destroy();
    }
    if (!check) {
      fs.writeFileSync(target, text);
      console.log(`wrote ${GENERATED_FILE}`);
      return 0;
    }
    const current = fs.existsSync(target) ? fs.readFileSync(target, 'utf8') : '';
    if (current === text) {
      console.log(`${GENERATED_FILE} matches the migrations`);
      return 0;
    }
    const was = current.split('\n');
    const now = text.split('\n');
    const first = now.findIndex((line, i) => line !== was[i]);
    console.error(`${GENERATED_FILE} is out of date with db/migrations (first difference at line ${first + 1}:`);
    console.error(`  committed: ${was[first] ?? '(end of file)'}\n  generated: ${now[first] ?? '(end of file)'})`);
    console.error('Run `npm run db:codegen` and commit the result.');
    return 1;
  } finally {
    await admin.query(`drop database if exists ${name} with (force)`).catch(() => {});
    await admin.end();
    await embedded?.stop();
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
