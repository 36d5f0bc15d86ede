import type { EventHandler } from '../events/bus.js';
import { recordNoteConversion, recordTaskCompletion } from './record-progress.js';

// Achievements and streaks react to completions and conversions inside the transaction of the
// change, so their counters and unlocks commit with it and the unlocks reach the response. The
// composition roots (src/app.ts, jobs/runner.ts) subscribe these to the bus.

/** `task.completed`: counts the completion; reports the unlocks and the current streak. */
export const countTaskCompletion: EventHandler<'task.completed'> = (trx, event, actor) => recordTaskCompletion(trx, event, actor);
/** `note.converted`: counts the first conversion of the note toward notes_10. */
export const countNoteConversion: EventHandler<'note.converted'> = (trx, event, actor) => recordNoteConversion(trx, { userId: actor.userId, noteId: event.noteId, convertedAt: event.convertedAt, actor });
