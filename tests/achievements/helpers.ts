import type { Database } from '../../db/index.js';
import { emit } from '../../src/domain/events/bus.js';

const DAY = 86_400_000;
/**
 * 00:00 UTC, `n` days before the day of `now`. A test takes `now` once and derives every date from
 * it, so a test running across midnight never mixes two "todays".
 */
export const daysAgo = (n: number, now: Date) => new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate()) - n * DAY);
export const plusDays = (d: Date, n: number) => new Date(d.getTime() + n * DAY);

/**
 * A task of the user completed at a chosen instant, through the domain's completion event (the
 * path every completion takes), so tests place completions on chosen UTC days without a fake clock.
 * Returns what the completion unlocked.
 */
/** Anything with a database: a TestApp, or `{ db }` in a fast test (tests/helpers/domain-tx.ts). */
type WithDb = { db: Database };

export async function completeTaskAt(t: WithDb, user: { id: string }, completedAt: Date, opts: { estimatedMinutes?: number; focusSeconds?: number; taskId?: string } = {}) {
  return t.db.transaction().execute(async (trx) => {
    const taskId =
      opts.taskId ??
      (
        await trx
          .insertInto('task_instances')
          .values({ user_id: user.id, title: 'Fixture task', estimated_duration: opts.estimatedMinutes ?? null, focus_time_seconds: opts.focusSeconds ?? 0, completed: true, completed_at: completedAt, completed_by: 'manual', created_at: completedAt, updated_at: completedAt })
          .returning('id')
          .executeTakeFirstOrThrow()
      ).id;
    // The event carries the task as completed, like afterCompletion sends it.
    const task = await trx.selectFrom('task_instances').select(['estimated_duration', 'focus_time_seconds']).where('id', '=', taskId).executeTakeFirstOrThrow();
    const outcome = await emit(
      trx,
      { type: 'task.completed', taskId, userId: user.id, completedBy: 'manual', completedAt, estimatedDuration: task.estimated_duration, focusTimeSeconds: task.focus_time_seconds },
      { userId: user.id, source: 'user', requestId: null },
    );
    return outcome.unlockedAchievements;
  });
}

/** The first successful conversion of a note, as the notes domain reports it. */
export async function convertNote(t: WithDb, user: { id: string }, noteId: string) {
  return t.db.transaction().execute(async (trx) => (await emit(trx, { type: 'note.converted', noteId, convertedAt: new Date() }, { userId: user.id, source: 'user', requestId: null })).unlockedAchievements);
}
