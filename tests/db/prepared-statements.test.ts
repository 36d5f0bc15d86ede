import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AUTO_NAMED_LIMIT, createDatabase, type DatabaseHandle } from '../../db/index.js';
import { startTestApp, type TestApp } from '../helpers/app.js';

// Every parameterized statement a pool sends a second time goes as a named prepared statement, so
// PostgreSQL parses it once per connection (and, after five calls, plans it once): about a quarter
// of its CPU for a write went to parsing and planning (bench/fixes.md, row 38). A statement that
// reads `*` never does: a migration adding a column would change its result type under a running
// process ("cached plan must not change result type") on every connection that prepared it.

let t: TestApp;
let one: DatabaseHandle; // a pool of one connection, so the statements it prepared can be seen

beforeAll(async () => {
  t = await startTestApp();
  one = createDatabase(t.databaseUrl, { max: 1 });
  await sql`create table prepared_probe (id int primary key, label text not null)`.execute(t.db);
  await sql`insert into prepared_probe values (1, 'one'), (2, 'two')`.execute(t.db);
});
afterAll(async () => {
  await one?.close();
  await sql`drop table if exists prepared_probe`.execute(t.db);
  await t?.close();
});

const prepared = async (fragment: string) =>
  (await sql<{ name: string; statement: string }>`select name, statement from pg_prepared_statements`.execute(one.db)).rows.filter((r) => r.statement.includes(fragment));
const byId = (id: number) => one.db.selectFrom('prepared_probe' as never).select(['id' as never, 'label' as never]).where('id' as never, '=', id as never).executeTakeFirst() as Promise<{ id: number; label: string } | undefined>;
const allById = (id: number) => one.db.selectFrom('prepared_probe' as never).selectAll().where('id' as never, '=', id as never).executeTakeFirst() as Promise<Record<string, unknown> | undefined>;

describe('named prepared statements', () => {
  it('sends a parameterized statement by name from its second call, and it keeps working after a migration adds a column', async () => {
    expect(await byId(1)).toEqual({ id: 1, label: 'one' });
    expect(await prepared('"prepared_probe"')).toHaveLength(0); // seen once: sent unnamed
    expect(await byId(2)).toEqual({ id: 2, label: 'two' });
    const named = await prepared('"prepared_probe"');
    expect(named).toHaveLength(1);
    expect(named[0]!.name).toMatch(/^p_[0-9a-f]{24}$/);
    for (let k = 0; k < 6; k++) expect(await byId(1 + (k % 2))).toBeDefined(); // past the five custom plans

    await sql`alter table prepared_probe add column added_later int not null default 7`.execute(t.db);
    expect(await byId(1)).toEqual({ id: 1, label: 'one' });
    expect(await prepared('"prepared_probe"')).toHaveLength(1); // the same statement, still named
  });

  it('never names a statement that reads `*`, so it sees a column a migration adds', async () => {
    for (let k = 0; k < 4; k++) expect(await allById(1)).toMatchObject({ id: 1, label: 'one' });
    expect((await prepared('select *')).filter((r) => r.statement.includes('prepared_probe'))).toHaveLength(0);
    await sql`alter table prepared_probe add column added_again text not null default 'x'`.execute(t.db);
    expect(await allById(1)).toMatchObject({ id: 1, label: 'one', added_again: 'x' });
  });

  it('sends statements without parameters in one simple-protocol message, unnamed', async () => {
    for (let k = 0; k < 3; k++) await sql`select label from prepared_probe where id = 1`.execute(one.db);
    expect(await prepared('where id = 1')).toHaveLength(0);
  });

  it(`names at most ${AUTO_NAMED_LIMIT} texts per pool, however many distinct ones it sees`, async () => {
    const own = createDatabase(t.databaseUrl, { max: 1 });
    try {
      for (let n = 0; n < AUTO_NAMED_LIMIT + 50; n++) {
        // Distinct texts, each twice (an `in` list of every length does this in production).
        for (let k = 0; k < 2; k++) await own.pool.query(`select id from prepared_probe where id = $1 and ${n} >= 0`, [1]);
      }
      const count = (await sql<{ n: number }>`select count(*)::int as n from pg_prepared_statements where statement like '%from prepared_probe where id = $1 and %'`.execute(own.db)).rows[0]!.n;
      expect(count).toBe(AUTO_NAMED_LIMIT);
    } finally {
      await own.close();
    }
    // Another pool's statements are its own: this one still names a new text.
    await sql`select label from prepared_probe where id = ${1} and 'limit' <> ''`.execute(one.db);
    await sql`select label from prepared_probe where id = ${2} and 'limit' <> ''`.execute(one.db);
    expect(await prepared(`'limit' <> ''`)).toHaveLength(1);
  });
});
