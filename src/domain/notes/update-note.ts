import type { Executor } from '../../../db/index.js';
import type { NoteRow } from '../../../db/schema/index.js';
import { invalidField } from '../../core/errors.js';
import type { Actor } from '../actor.js';
import { inTransaction } from '../tasks/in-transaction.js';
import { recordActivity } from '../activity/record-activity.js';
import { lockFor } from '../locks.js';
import { ownedNote, reserveActiveNote } from './queries.js';

export interface UpdateNoteInput {
  content?: string;
  archived?: boolean;
}

/** Edits, archives or restores a note; restoring takes a place under the note limit. */
export async function updateNote(db: Executor, { actor, noteId, input }: { actor: Actor; noteId: string; input: UpdateNoteInput }): Promise<NoteRow> {
  const content = input.content?.trim();
  if (input.content !== undefined && !content) throw invalidField('body.content', 'must not be blank');
  return inTransaction(db, async (trx) => {
    const restoring = input.archived === false;
    // Locks in the order every note operation takes them: the user's notes lock, then the row.
    if (restoring) await lockFor(trx, 'notes', actor.userId);
    const note = await ownedNote(trx, { userId: actor.userId, noteId, opts: { forUpdate: true } });
    if (restoring && note.archived) await reserveActiveNote(trx, actor.userId);
    const updated = await trx
      .updateTable('notes')
      .set({
        ...(content !== undefined ? { content } : {}),
        ...(input.archived !== undefined ? { archived: input.archived } : {}),
        updated_at: new Date(),
      })
      .where('id', '=', noteId)
      .returningAll()
      .executeTakeFirstOrThrow();
    const action =
      input.archived !== undefined && input.archived !== note.archived ? (input.archived ? 'note_archived' : 'note_restored') : 'note_updated';
    await recordActivity(trx, { userId: actor.userId, entityType: 'note', entityId: noteId, action, source: actor.source, requestId: actor.requestId, extra: { fields: Object.keys(input) } });
    return updated;
  });
}
