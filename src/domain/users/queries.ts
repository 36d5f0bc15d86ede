import { sql } from 'kysely';
import type { Executor } from '../../../db/index.js';
import type { NewUser, UserRow, UserUpdate } from '../../../db/schema/index.js';

export const findUserById = (db: Executor, id: string): Promise<UserRow | undefined> =>
  db.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirst();

/** Whether the account still exists: checked for every authenticated request (a deleted account's tokens stop working). */
export const accountExists = async (db: Executor, id: string): Promise<boolean> =>
  (await db.selectFrom('users').select('id').where('id', '=', id).executeTakeFirst()) !== undefined;

export const findUserByGoogleId = (db: Executor, googleId: string): Promise<UserRow | undefined> =>
  db.selectFrom('users').selectAll().where('google_id', '=', googleId).executeTakeFirst();

export const findUserByEmail = (db: Executor, email: string): Promise<UserRow | undefined> =>
  db.selectFrom('users').selectAll().where(sql`lower(email)`, '=', email.toLowerCase()).executeTakeFirst();

/** Inserts unless the Google id exists already (a concurrent first sign-in); then returns undefined. */
export const insertUserIfAbsent = (db: Executor, user: NewUser): Promise<UserRow | undefined> =>
  db.insertInto('users').values(user).onConflict((oc) => oc.column('google_id').doNothing()).returningAll().executeTakeFirst();

export const updateUserRow = (db: Executor, id: string, changes: UserUpdate): Promise<UserRow> =>
  db
    .updateTable('users')
    .set({ ...changes, updated_at: new Date() })
    .where('id', '=', id)
    .returningAll()
    .executeTakeFirstOrThrow();
