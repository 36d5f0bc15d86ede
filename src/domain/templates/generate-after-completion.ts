import type { Database } from '../../../db/index.js';
import { DomainError } from '../../core/errors.js';
import type { Actor } from '../actor.js';
import { effectiveLimits } from '../limits/effective-limits.js';
import { lockFor } from '../locks.js';
import { createNotification } from '../notifications/create-notification.js';
import { generateInstance } from './generate-instance.js';

export type GenerationOutcome = 'generated' | 'already_generated' | 'not_completed' | 'not_generating' | 'limit_reached';

/**
 * The `recurring_task_generate` job (FR-016/017, one per completed instance, job key
 * `recurring:<completedTaskId>`): after an instance was completed, creates the template's next
 * instance. Idempotent — at most one instance is generated per completed instance (a unique key on
 * `previous_instance_id`), so a retry or a re-completion of the same instance never duplicates. A
 * completion undone before the job ran, a deleted or paused template generate nothing. When the
 * active-task limit is reached the user gets a notification instead of a task (retrying would not
 * help); generate on demand later. Any other failure throws, so graphile-worker retries with
 * backoff; the completion is never undone.
 */
export async function generateAfterCompletion(db: Database, payload: { templateId: string; completedTaskId: string }): Promise<GenerationOutcome> {
  const now = new Date();
  return db.transaction().execute(async (trx) => {
    // Lock order (locks.ts): the owner's active-task lock before the template row, so read the
    // owner without a lock first. The lock also serialises us with a retry of this job and with
    // the recovery of a deleted instance (which checks for its successor).
    const owner = await trx.selectFrom('task_templates').select('user_id').where('id', '=', payload.templateId).executeTakeFirst();
    if (!owner) return 'not_generating';
    await lockFor(trx, 'active-tasks', owner.user_id);
    const template = await trx.selectFrom('task_templates').selectAll().where('id', '=', payload.templateId).forUpdate().executeTakeFirst();
    if (!template) return 'not_generating';
    const done = await trx.selectFrom('task_instances').select('id').where('previous_instance_id', '=', payload.completedTaskId).executeTakeFirst();
    if (done) return 'already_generated';
    const completed = await trx.selectFrom('task_instances').select(['id', 'completed']).where('id', '=', payload.completedTaskId).executeTakeFirst();
    if (!completed?.completed) return 'not_completed';
    const actor: Actor = { userId: template.user_id, source: 'system', requestId: null };
    try {
      const row = await generateInstance(trx, { actor, template, limits: await effectiveLimits(trx, template.user_id), now, previousInstanceId: payload.completedTaskId });
      return row ? 'generated' : 'not_generating';
    } catch (err) {
      if (!(err instanceof DomainError && err.code === 'LIMIT_EXCEEDED')) throw err;
      await createNotification(trx, {
        userId: template.user_id,
        type: 'system',
        title: 'Recurring task not created',
        body: `The next "${template.title}" was not created because you reached your limit of active tasks. Complete or hide a task, then create it from the template.`,
        actionUrl: `/templates/${template.id}`,
      });
      return 'limit_reached';
    }
  });
}
