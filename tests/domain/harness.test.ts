import { sql } from 'kysely';
import { describe, expect } from 'vitest';
import { domainTest as test, newUser, withRollback } from '../helpers/domain-tx.js';

// The fast-test harness itself: what a test writes is gone afterwards, domain transactions nest as
// savepoints, and a failed statement does not poison the rest of the test.

const email = `harness-${Date.now()}@example.com`;

describe('domain-tx harness', () => {
  test('a test sees its own writes', async ({ db }) => {
    const u = await newUser(db, { email });
    expect(await db.selectFrom('users').select('id').where('email', '=', email).executeTakeFirst()).toEqual({ id: u.id });
  });

  test('and they are rolled back when it ends', async ({ db }) => {
    expect(await db.selectFrom('users').select('id').where('email', '=', email).executeTakeFirst()).toBeUndefined();
  });

  test('a domain transaction that throws rolls back only its own writes; one that returns keeps them', async ({ db }) => {
    const u = await newUser(db);
    await expect(
      db.transaction().execute(async (trx) => {
        await trx.updateTable('users').set({ name: 'inside' }).where('id', '=', u.id).execute();
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    expect((await db.selectFrom('users').select('name').where('id', '=', u.id).executeTakeFirstOrThrow()).name).toBe(u.name);
    await db.transaction().execute((trx) => trx.updateTable('users').set({ name: 'kept' }).where('id', '=', u.id).execute());
    expect((await db.selectFrom('users').select('name').where('id', '=', u.id).executeTakeFirstOrThrow()).name).toBe('kept');
  });

  test('a failing statement outside a transaction leaves the test able to go on', async ({ db }) => {
    const u = await newUser(db);
    await expect(db.updateTable('credit_lots').set({ remaining: -1 }).where('user_id', '=', u.id).execute()).rejects.toThrow(/check constraint/);
    expect((await db.selectFrom('credit_lots').select('remaining').where('user_id', '=', u.id).executeTakeFirstOrThrow()).remaining).toBe(5);
  });

  test('runs in one transaction, not autocommit', async ({ db }) => {
    const a = await sql<{ t: Date }>`select now() as t`.execute(db);
    const b = await sql<{ t: Date }>`select now() as t`.execute(db);
    expect(a.rows[0]!.t.getTime()).toBe(b.rows[0]!.t.getTime());
  });

  test('withRollback undoes writes even when the callback throws', async () => {
    const mail = `harness-throw-${Date.now()}@example.com`;
    await expect(
      withRollback(async (db) => {
        await newUser(db, { email: mail });
        throw new Error('test failed');
      }),
    ).rejects.toThrow('test failed');
    await withRollback(async (db) => expect(await db.selectFrom('users').select('id').where('email', '=', mail).executeTakeFirst()).toBeUndefined());
  });
});
