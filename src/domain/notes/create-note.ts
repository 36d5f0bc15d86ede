import type { Executor } from '../../../db/index.js';
import type { NoteRow } from '../../../db/schema/index.js';
import { invalidField, tierRequired } from '../../core/errors.js';
import type { Actor } from '../actor.js';
import { inTransaction } from '../tasks/in-transaction.js';
import { recordActivity } from '../activity/record-activity.js';
import { effectiveLimits } from '../limits/effective-limits.js';
import { reserveActiveNote } from './queries.js';

export interface CreateNoteInput {
  content: string;
  voice_url?: string;
  voice_duration_seconds?: number;
}

/** FR-022/023: a note, under the active-note limit; voice notes are Pro only. */
export async function createNote(db: Executor, actor: Actor, input: CreateNoteInput): Promise<NoteRow> {
  const content = input.content.trim();
  if (!content) throw invalidField('body.content', 'must not be blank');
  const voice = input.voice_url !== undefined;
  if (voice !== (input.voice_duration_seconds !== undefined)) {
    throw invalidField(voice ? 'body.voice_duration_seconds' : 'body.voice_url', 'voice_url and voice_duration_seconds are sent together');
  }
  return inTransaction(db, async (trx) => {
    if (voice) {
      const limits = await effectiveLimits(trx, actor.userId);
      if (!limits.voice) throw tierRequired(limits.tier, 'Voice notes need Pro');
    }
    await reserveActiveNote(trx, actor.userId);
    const note = await trx
      .insertInto('notes')
      .values({
        user_id: actor.userId,
        content,
        voice_url: input.voice_url ?? null,
        voice_duration_seconds: input.voice_duration_seconds ?? null,
        // the client sends the transcript it already has as content
        transcription_status: voice ? 'completed' : null,
      })
      .returningAll()
      .executeTakeFirstOrThrow();
    await recordActivity(trx, { userId: actor.userId, entityType: 'note', entityId: note.id, action: 'note_created', source: actor.source, requestId: actor.requestId, extra: { voice } });
    return note;
  });
}
