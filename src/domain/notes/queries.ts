import type { Executor } from '../../../db/index.js';
import type { NoteRow } from '../../../db/schema/index.js';
import { forbidden, limitExceeded, notFound } from '../../core/errors.js';
import { effectiveLimits } from '../limits/effective-limits.js';
import { lockFor } from '../locks.js';

/** The note by id, for its owner: 404 when it does not exist, 403 when it is another user's. */
export async function ownedNote(db: Executor, { userId, noteId, opts = {} }: { userId: string; noteId: string; opts?: { forUpdate?: boolean } }): Promise<NoteRow> {
  let q = db.selectFrom('notes').selectAll().where('id', '=', noteId);
  if (opts.forUpdate) q = q.forUpdate();
  const note = await q.executeTakeFirst();
  if (!note) throw notFound('Note');
  if (note.user_id !== userId) throw forbidden();
  return note;
}

export const countActiveNotes = async (db: Executor, userId: string): Promise<number> =>
  Number(
    (await db.selectFrom('notes').select(db.fn.countAll<number>().as('n')).where('user_id', '=', userId).where('archived', '=', false).executeTakeFirstOrThrow()).n,
  );

/**
 * Takes the user's notes lock and checks that one more active note fits under the limit (tier +
 * perks). Call inside the transaction that then makes the note active.
 */
export async function reserveActiveNote(trx: Executor, userId: string): Promise<void> {
  await lockFor(trx, 'notes', userId);
  const { maxNotes } = await effectiveLimits(trx, userId);
  if ((await countActiveNotes(trx, userId)) >= maxNotes) {
    throw limitExceeded(`Note limit reached (${maxNotes} active notes); archive or delete a note first`, maxNotes);
  }
}
