import type { Executor } from '../../../db/index.js';
import type { Actor } from '../actor.js';
import { inTransaction } from '../tasks/in-transaction.js';
import { recordActivity } from '../activity/record-activity.js';
import { writeTombstone } from '../recovery/tombstones.js';
import { noteSnapshot, notePreview } from './present.js';
import { ownedNote } from './queries.js';

/** Deletes a note and leaves a tombstone that restores it for 7 days (FR-062). */
export async function deleteNote(db: Executor, actor: Actor, noteId: string): Promise<{ tombstoneId: string; recoverableUntil: Date }> {
  return inTransaction(db, async (trx) => {
    const note = await ownedNote(trx, { userId: actor.userId, noteId, opts: { forUpdate: true } });
    await trx.deleteFrom('notes').where('id', '=', noteId).execute();
    const tombstone = await writeTombstone(trx, {
      userId: actor.userId,
      entityType: 'note',
      entityId: note.id,
      title: notePreview(note.content),
      snapshot: noteSnapshot(note),
    });
    await recordActivity(trx, {
      userId: actor.userId,
      entityType: 'note',
      entityId: noteId,
      action: 'note_deleted',
      source: actor.source,
      requestId: actor.requestId,
      extra: { tombstone_id: tombstone.id },
    });
    return { tombstoneId: tombstone.id, recoverableUntil: tombstone.recoverable_until };
  });
}
