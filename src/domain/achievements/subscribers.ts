import { onEvent } from '../events/bus.js';
import { recordNoteConversion, recordTaskCompletion } from './record-progress.js';

// Achievements and streaks react to completions and conversions inside the transaction of the
// change, so their counters and unlocks commit with it and the unlocks reach the response.

onEvent('task.completed', (trx, event, actor) => recordTaskCompletion(trx, event, actor));
onEvent('note.converted', (trx, event, actor) => recordNoteConversion(trx, actor.userId, event.noteId, event.convertedAt, actor));
