import { sql } from 'kysely';
import type { Executor } from '../../../db/index.js';
import type { Actor } from '../actor.js';
import type { DomainEvent, EventOutcome } from '../events/bus.js';
import { lockFor } from '../locks.js';
import { currentStreak, liveStreak, streakRuns } from './streaks.js';
import { unlockReachedAchievements } from './unlock.js';

/** FR-045: focus time of at least half the estimate (tasks without an estimate never count). */
export const isFocusCompletion = (estimatedMinutes: number | null, focusSeconds: number): boolean =>
  estimatedMinutes !== null && estimatedMinutes > 0 && focusSeconds * 2 >= estimatedMinutes * 60;

/** The user's counters row, created on first use; their achievement changes are serialised by the lock. */
async function lockState(trx: Executor, userId: string): Promise<void> {
  await lockFor(trx, 'achievements', userId);
  await trx.insertInto('user_achievement_states').values({ user_id: userId }).onConflict((oc) => oc.column('user_id').doNothing()).execute();
}

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
  const counted = await trx
    .insertInto('achievement_task_completions')
    .values({ user_id: userId, task_id: taskId, completed_at: completedAt, completed_day: sql<string>`(${completedAt}::timestamptz at time zone 'UTC')::date`, focus_completion: focus })
    .onConflict((oc) => oc.columns(['user_id', 'task_id']).doNothing())
    .returning('task_id')
    .executeTakeFirst();
  if (!counted) return { streak: await currentStreak(trx, userId) };

  // The streak changes only with a completion on a day that had none yet.
  const sameDay = await trx
    .selectFrom('achievement_task_completions')
    .select('task_id')
    .where('user_id', '=', userId)
    .where('completed_day', '=', sql<string>`(${completedAt}::timestamptz at time zone 'UTC')::date`)
    .where('task_id', '<>', taskId)
    .limit(1)
    .executeTakeFirst();
  const runs = sameDay ? null : await streakRuns(trx, userId);
  const state = await trx
    .updateTable('user_achievement_states')
    .set({
      lifetime_tasks_completed: sql<number>`lifetime_tasks_completed + 1`,
      focus_completions: sql<number>`focus_completions + ${focus ? 1 : 0}`,
      ...(runs
        ? {
            current_streak: runs.current,
            // never below what it was: perks and longest streaks are never lost
            longest_streak: sql<number>`greatest(longest_streak, ${runs.longest}::int)`,
            last_completion_date: runs.lastDay,
          }
        : {}),
      updated_at: new Date(),
    })
    .where('user_id', '=', userId)
    .returning(['current_streak', sql<string | null>`last_completion_date::text`.as('last_day')])
    .executeTakeFirstOrThrow();
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
