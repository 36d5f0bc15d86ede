import { sql } from 'kysely';
import type { Executor } from '../../../db/index.js';
import { compileOnce, shapeBuilder } from '../../../db/query-shapes.js';
import type { Actor } from '../actor.js';
import type { DomainEvent, EventOutcome } from '../events/bus.js';
import { lockFor } from '../locks.js';
import { currentStreak, liveStreak, streakRuns } from './streaks.js';
import { unlockReachedAchievements } from './unlock.js';

/** FR-045: focus time of at least half the estimate (tasks without an estimate never count). */
export const isFocusCompletion = (estimatedMinutes: number | null, focusSeconds: number): boolean =>
  estimatedMinutes !== null && estimatedMinutes > 0 && focusSeconds * 2 >= estimatedMinutes * 60;

const ensureState = compileOnce((v: { userId: string }) => shapeBuilder.insertInto('user_achievement_states').values({ user_id: v.userId }).onConflict((oc) => oc.column('user_id').doNothing()));

/** The user's counters row, created on first use; their achievement changes are serialised by the lock. */
async function lockState(trx: Executor, userId: string): Promise<void> {
  await lockFor(trx, 'achievements', userId);
  await trx.executeQuery(ensureState({ userId }));
}

const utcDay = (at: unknown) => sql<string>`(${at}::timestamptz at time zone 'UTC')::date`;

/** The completion, once per (user, task): no row back when it had counted before. */
const countCompletion = compileOnce((v: { userId: string; taskId: string; completedAt: Date; focus: boolean }) =>
  shapeBuilder
    .insertInto('achievement_task_completions')
    .values({ user_id: v.userId, task_id: v.taskId, completed_at: v.completedAt, completed_day: utcDay(v.completedAt), focus_completion: v.focus })
    .onConflict((oc) => oc.columns(['user_id', 'task_id']).doNothing())
    .returning('task_id'),
);

/** Another task completed on the same UTC day, if any. */
const otherCompletionThatDay = compileOnce((v: { userId: string; taskId: string; completedAt: Date }) =>
  shapeBuilder
    .selectFrom('achievement_task_completions')
    .select('task_id')
    .where('user_id', '=', v.userId)
    .where('completed_day', '=', utcDay(v.completedAt))
    .where('task_id', '<>', v.taskId)
    .limit(1),
);

const stateReturning = ['current_streak', sql<string | null>`last_completion_date::text`.as('last_day')] as const;

/** One more completion, the streak unchanged (another task was completed that day). */
const addCompletion = compileOnce((v: { userId: string; focus: number; now: Date }) =>
  shapeBuilder
    .updateTable('user_achievement_states')
    .set({ lifetime_tasks_completed: sql<number>`lifetime_tasks_completed + 1`, focus_completions: sql<number>`focus_completions + ${v.focus}`, updated_at: v.now })
    .where('user_id', '=', v.userId)
    .returning(stateReturning),
);

/** One more completion on a new day, with the streaks it gives. */
const addCompletionDay = compileOnce((v: { userId: string; focus: number; current: number; longest: number; lastDay: string | null; now: Date }) =>
  shapeBuilder
    .updateTable('user_achievement_states')
    .set({
      lifetime_tasks_completed: sql<number>`lifetime_tasks_completed + 1`,
      focus_completions: sql<number>`focus_completions + ${v.focus}`,
      current_streak: v.current,
      // never below what it was: perks and longest streaks are never lost
      longest_streak: sql<number>`greatest(longest_streak, ${v.longest}::int)`,
      last_completion_date: v.lastDay,
      updated_at: v.now,
    })
    .where('user_id', '=', v.userId)
    .returning(stateReturning),
);

/**
 * `task.completed`: the first completion of a task counts once toward tasks_*, the streak and,
 * with enough focus, focus_10 — however it was completed. A re-completion (after un-completing) or
 * the completion of a recovered task that had counted before finds its row and counts nothing.
 * Either way it reports the user's current streak, which force-complete answers.
 */
export async function recordTaskCompletion(
  trx: Executor,
  completion: Pick<Extract<DomainEvent, { type: 'task.completed' }>, 'taskId' | 'userId' | 'completedAt' | 'estimatedDuration' | 'focusTimeSeconds'>,
  actor: Pick<Actor, 'requestId'>,
): Promise<Partial<EventOutcome>> {
  const { taskId, userId, completedAt } = completion;
  await lockState(trx, userId);
  const focus = isFocusCompletion(completion.estimatedDuration, completion.focusTimeSeconds);
  const counted = (await trx.executeQuery(countCompletion({ userId, taskId, completedAt, focus }))).rows[0];
  if (!counted) return { streak: await currentStreak(trx, userId) };

  // The streak changes only with a completion on a day that had none yet.
  const sameDay = (await trx.executeQuery(otherCompletionThatDay({ userId, taskId, completedAt }))).rows[0];
  const runs = sameDay ? null : await streakRuns(trx, userId);
  const now = new Date();
  const addOne = runs
    ? addCompletionDay({ userId, focus: focus ? 1 : 0, current: runs.current, longest: runs.longest, lastDay: runs.lastDay, now })
    : addCompletion({ userId, focus: focus ? 1 : 0, now });
  const state = (await trx.executeQuery(addOne)).rows[0]!;
  return { unlockedAchievements: await unlockReachedAchievements(trx, userId, actor), streak: liveStreak(state.current_streak, state.last_day, new Date()) };
}

/** `note.converted`: the first successful conversion of each note counts toward notes_10. */
export async function recordNoteConversion(trx: Executor, { userId, noteId, convertedAt, actor }: { userId: string; noteId: string; convertedAt: Date; actor: Pick<Actor, 'requestId'> }): Promise<Partial<EventOutcome>> {
  await lockState(trx, userId);
  const counted = await trx
    .insertInto('achievement_note_conversions')
    .values({ user_id: userId, note_id: noteId, converted_at: convertedAt })
    .onConflict((oc) => oc.columns(['user_id', 'note_id']).doNothing())
    .returning('note_id')
    .executeTakeFirst();
  if (!counted) return {};
  await trx
    .updateTable('user_achievement_states')
    .set({ notes_converted: sql<number>`notes_converted + 1`, updated_at: new Date() })
    .where('user_id', '=', userId)
    .execute();
  return { unlockedAchievements: await unlockReachedAchievements(trx, userId, actor) };
}
