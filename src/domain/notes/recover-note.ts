import type { Database } from '../../../db/index.js';
import type { NoteRow } from '../../../db/schema/index.js';
import { conflict } from '../../core/errors.js';
import type { Actor } from '../actor.js';
import { recordActivity } from '../activity/record-activity.js';
import { lockFor } from '../locks.js';
import { takeTombstone } from '../recovery/tombstones.js';
import type { NoteSnapshot } from './present.js';
import { reserveActiveNote } from './queries.js';

/**
 * Restores a deleted note from its tombstone with its original id and timestamps (FR-063), without
 * side effects (FR-064). An active note needs a place under the limit; an archived one does not.
 */
export async function recoverNote(db: Database, actor: Actor, tombstoneId: string): Promise<NoteRow> {
  return db.transaction().execute(async (trx) => {
    // Lock order (locks.ts): the notes limit lock before the tombstone, as restoring and deleting
    // a note take the limit lock, then the note, then the tombstones.
    await lockFor(trx, 'notes', actor.userId);
    const tombstone = await takeTombstone(trx, { userId: actor.userId, tombstoneId, entityType: 'note' });
    const s = tombstone.snapshot as NoteSnapshot;
    if (!s.archived) await reserveActiveNote(trx, actor.userId);
    const note = await trx
      .insertInto('notes')
      .values({
        id: s.id,
        user_id: actor.userId,
        content: s.content,
        archived: s.archived,
        voice_url: s.voice_url,
        voice_duration_seconds: s.voice_duration_seconds,
        transcription_status: s.transcription_status,
        converted_at: s.converted_at,
        created_at: s.created_at,
        updated_at: s.updated_at,
      })
      .onConflict((oc) => oc.column('id').doNothing())
      .returningAll()
      .executeTakeFirst();
    if (!note) throw conflict('A note with this id already exists');
    await recordActivity(trx, { userId: actor.userId, entityType: 'note', entityId: note.id, action: 'note_recovered', source: actor.source, requestId: actor.requestId, extra: { tombstone_id: tombstoneId } });
    return note;
  });
}
