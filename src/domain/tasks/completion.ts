import type { components } from '../../../codegen/api.js';
import type { Executor } from '../../../db/index.js';
import type { CompletedBy, TaskRow } from '../../../db/schema/index.js';
import { enqueueJob } from '../../../jobs/enqueue.js';
import { recordActivity } from '../activity/record-activity.js';
import type { Actor } from '../actor.js';
import { emit, type EventOutcome } from '../events/bus.js';

export type AchievementUnlock = components['schemas']['AchievementUnlock'];

/** One generation job per completed instance: a sibling's completion never replaces it. */
export const recurringJobKey = (completedTaskId: string) => `recurring:${completedTaskId}`;

/**
 * What every completion path (PATCH, auto, force, AI) does after the row was marked completed, in
 * the same transaction: the `task.completed` event (streaks, achievements), the activity entry, and
 * for a recurring instance the job that generates the next one. The job runs after the commit and
 * on its own, so a failed generation never undoes the completion and is retried (FR-017). The job
 * is keyed by the completed instance, so re-completing it replaces its own waiting job and the
 * unique `previous_instance_id` keeps generation to one successor. Never call it for a recovery (FR-064).
 */
export async function afterCompletion(trx: Executor, { actor, task, completedBy }: { actor: Actor; task: TaskRow; completedBy: CompletedBy }): Promise<AchievementUnlock[]> {
  return (await completionEvent(trx, { actor, task, completedBy })).unlockedAchievements;
}

/** afterCompletion with the whole outcome of the event (force-complete also answers the streak). */
export async function completionEvent(trx: Executor, { actor, task, completedBy }: { actor: Actor; task: TaskRow; completedBy: CompletedBy }): Promise<EventOutcome> {
  const outcome = await emit(
    trx,
    {
      type: 'task.completed',
      taskId: task.id,
      userId: task.user_id,
      completedBy,
      completedAt: task.completed_at!,
      estimatedDuration: task.estimated_duration,
      focusTimeSeconds: task.focus_time_seconds,
    },
    actor,
  );
  await recordActivity(trx, {
    userId: task.user_id,
    entityType: 'task',
    entityId: task.id,
    action: 'task_completed',
    source: actor.source,
    requestId: actor.requestId,
    extra: { completed_by: completedBy },
  });
  if (task.template_id) {
    await enqueueJob(trx, { name: 'recurring_task_generate', payload: { templateId: task.template_id, completedTaskId: task.id }, jobKey: recurringJobKey(task.id), jobKeyMode: 'replace' });
  }
  return outcome;
}
