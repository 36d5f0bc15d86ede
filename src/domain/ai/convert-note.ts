import type { components } from '../../../codegen/api.js';
import type { AiUseCaseDeps } from './ports.js';
import { archived } from '../../core/errors.js';
import { assertCanAfford } from '../credits/ledger.js';
import { emit } from '../events/bus.js';
import { effectiveLimits } from '../limits/effective-limits.js';
import { ownedNote } from '../notes/queries.js';
import { assertProviderConfigured } from '../provider-failures.js';
import type { AiCaller } from './chat.js';
import { confirmAiRequest, paidAiRequest } from './charge.js';
import { contractSchema, validationSummary } from './contract-schemas.js';
import { invalidAnswer } from './suggested-actions.js';

type TaskSuggestion = components['schemas']['TaskSuggestion'];
type AchievementUnlock = components['schemas']['AchievementUnlock'];

export interface NoteConversionResult {
  conversion: components['schemas']['NoteConversion'];
  unlockedAchievements: AchievementUnlock[];
}

const MAX_DUE_DAYS = 30;

// What the model must answer (structured output); the server then fits it to the user's limits.
const ANSWER_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  required: ['title', 'description', 'priority', 'due_date', 'estimated_duration', 'subtasks', 'confidence'],
  properties: {
    title: { type: 'string', description: 'A short task title (at most 200 characters).' },
    description: { type: 'string', description: 'Details from the note; empty when there are none.' },
    priority: { type: 'string', enum: ['low', 'medium', 'high'] },
    due_date: { type: ['string', 'null'], description: 'ISO 8601 date-time with a zone when the note names a time; otherwise null.' },
    estimated_duration: { type: ['integer', 'null'], description: 'Estimated minutes (1-720), or null.' },
    subtasks: { type: 'array', items: { type: 'object', additionalProperties: false, required: ['title'], properties: { title: { type: 'string' } } } },
    confidence: { type: 'number', description: 'How sure you are (0-1) that the note describes this task.' },
  },
};

/**
 * FR-032: asks the AI for a task suggestion from a note. Nothing is created and the note is not
 * changed, except that its first successful conversion is remembered (notes_10). 1 credit, charged
 * only for a usable suggestion.
 */
export async function convertNoteToTask(deps: AiUseCaseDeps, { caller, noteId, now = new Date() }: { caller: AiCaller; noteId: string; now?: Date }): Promise<NoteConversionResult> {
  const { db, config } = deps;
  const userId = caller.actor.userId;
  const note = await ownedNote(db, { userId, noteId });
  if (note.archived) throw archived('Restore the note before converting it');
  const credits = config.AI_CREDIT_CONVERSION;
  await assertCanAfford(db, { userId, amount: credits });
  const limits = await effectiveLimits(db, userId);
  const user = await db.selectFrom('users').select('timezone').where('id', '=', userId).executeTakeFirstOrThrow();

  assertProviderConfigured(deps.ai);
  const requestId = caller.actor.requestId ?? 'none';
  const charge = { actor: caller.actor, sessionId: caller.sessionId, credits, description: 'AI note conversion', operationRef: `ai_note_conversion:${requestId}` };
  // Reserved before the provider is asked; refunded when it fails or its suggestion is unusable.
  return paidAiRequest(deps, { charge, refundDescription: 'Refund: AI note conversion not completed' }, async (reservation) => {
    const answer = await deps.ai.complete({
      messages: [
        {
          role: 'system',
          content: `Turn the user's note into one task for a task manager. Current time (UTC): ${now.toISOString()}; the user's time zone: ${user.timezone}.
Use at most ${limits.maxSubtasksPerTask} subtasks and keep the description under ${limits.maxDescriptionLength} characters. A due date is at most ${MAX_DUE_DAYS} days ahead.`,
        },
        { role: 'user', content: note.content },
      ],
      jsonSchema: { name: 'task_suggestion', schema: ANSWER_SCHEMA },
    });

    let raw: any;
    try {
      raw = JSON.parse(answer.content);
    } catch {
      throw invalidAnswer(deps.log, 'note conversion is not JSON');
    }
    const suggestion = fitSuggestion(raw, limits, now);
    const validate = contractSchema(deps.contract, 'TaskSuggestion');
    if (!validate(suggestion)) throw invalidAnswer(deps.log, `note conversion: ${validationSummary(validate)}`);
    const confidence = raw?.confidence;
    if (typeof confidence !== 'number' || !(confidence >= 0 && confidence <= 1)) throw invalidAnswer(deps.log, 'note conversion: confidence is not within 0..1');

    const settled = await confirmAiRequest(db, { charge: { ...charge, activity: { entityId: noteId, action: 'ai_note_converted', extra: { note_id: noteId } } }, reservation, settlement: {
      alongside: async (trx) => {
        // The first successful conversion of a note counts toward notes_10, once.
        const first = await trx
          .updateTable('notes')
          .set({ converted_at: now })
          .where('id', '=', noteId)
          .where('converted_at', 'is', null)
          .returning('id')
          .executeTakeFirst();
        if (!first) return [];
        return (await emit(trx, { type: 'note.converted', noteId, convertedAt: now }, caller.actor)).unlockedAchievements;
      },
    } });
    return {
      conversion: { task_suggestion: suggestion as TaskSuggestion, confidence, credits_used: credits, credits_remaining: settled.balanceAfter },
      unlockedAchievements: settled.outcome,
    };
  });
}

/**
 * Fits the model's answer to what POST /tasks would accept from this user: trimmed title, the
 * tier's description length and subtask count, a due date at most 30 days ahead (a later or
 * unreadable one is dropped rather than invented), and UTC timestamps.
 */
function fitSuggestion(raw: any, limits: { maxDescriptionLength: number; maxSubtasksPerTask: number }, now: Date): unknown {
  if (!raw || typeof raw !== 'object') return raw;
  let due: string | null = null;
  if (typeof raw.due_date === 'string') {
    const d = new Date(raw.due_date);
    const zoned = /(Z|[+-]\d{2}:?\d{2})$/i.test(raw.due_date.trim());
    if (zoned && !Number.isNaN(d.getTime()) && d.getTime() <= now.getTime() + MAX_DUE_DAYS * 86_400_000) due = d.toISOString();
  }
  return {
    title: typeof raw.title === 'string' ? raw.title.trim().slice(0, 200) : raw.title,
    description: typeof raw.description === 'string' ? [...raw.description.trim()].slice(0, limits.maxDescriptionLength).join('') : raw.description,
    priority: raw.priority,
    due_date: due,
    estimated_duration: raw.estimated_duration ?? null,
    subtasks: Array.isArray(raw.subtasks)
      ? raw.subtasks
          .map((s: any) => ({ title: typeof s?.title === 'string' ? s.title.trim().slice(0, 200) : s?.title }))
          .filter((s: any) => s.title !== '')
          .slice(0, limits.maxSubtasksPerTask)
      : raw.subtasks,
  };
}
