import pg from 'pg';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { createDatabase } from '../../db/index.js';
import { migrateToLatest } from '../../db/migrate.js';
import { withDatabase } from '../setup/global-setup.js';

// The API and the worker both migrate when they start, on a fresh database too (the image check
// starts them together): they must take turns, or one migrator reads the catalog while the other
// changes it.

const admin = inject('pgAdminUrl');
const created: string[] = [];

async function adminQuery(text: string): Promise<void> {
  const c = new pg.Client({ connectionString: admin });
  await c.connect();
  try {
    await c.query(text);
  } finally {
    await c.end();
  }
}

afterAll(async () => {
  for (const name of created) await adminQuery(`drop database if exists ${name} with (force)`);
});

describe('migrateToLatest from several processes at once', () => {
  it('migrates a fresh database once, whoever starts first, and every caller succeeds', async () => {
    for (let round = 0; round < 3; round++) {
      const name = `pf_concurrent_migrations_${process.pid}_${round}`;
      created.push(name);
      await adminQuery(`create database ${name}`);
      const dbs = Array.from({ length: 4 }, () => createDatabase(withDatabase(admin, name), { max: 2 }));
      try {
        const applied = await Promise.all(dbs.map(({ db, pool }) => migrateToLatest(db, pool)));
        // Exactly one caller applied our migrations; the others found nothing left to do.
        expect(applied.filter((names) => names.length > 0)).toHaveLength(1);
      } finally {
        await Promise.all(dbs.map(({ db }) => db.destroy()));
      }
    }
  });
});
