import type { Executor } from '../../../db/index.js';
import type { TaskRow, TaskTemplateRow } from '../../../db/schema/index.js';
import type { Actor } from '../actor.js';
import type { EffectiveLimits } from '../limits/effective-limits.js';
import { insertActiveTask } from '../tasks/create-task.js';
import { userZone } from './queries.js';
import { nextOccurrence, parseRrule } from './recurrence.js';

/**
 * Creates the template's next instance in the caller's transaction and advances `next_due`. The
 * caller holds the user's 'active-tasks' lock and then the template row, in that order (locks.ts).
 * The instance is due at `next_due`, or at the first occurrence from now on when that has passed
 * (a missed occurrence is skipped, not back-filled). Answers null when the template is inactive or
 * has no occurrence left (and then clears `next_due`). Instances count toward the active-task limit
 * and are exempt from the 30-day due-date rule.
 */
export async function generateInstance(
  trx: Executor,
  { actor, template, limits, now, previousInstanceId = null }: { actor: Actor; template: TaskTemplateRow; limits: EffectiveLimits; now: Date; previousInstanceId?: string | null },
): Promise<TaskRow | null> {
  if (!template.active || !template.next_due) return null;
  const rule = parseRrule(template.rrule, 'rrule');
  const zone = await userZone(trx, template.user_id);
  const due = template.next_due.getTime() >= now.getTime() ? template.next_due : nextOccurrence({ rule, startsAt: template.starts_at, zone, after: now, inclusive: true });
  if (!due) {
    await trx.updateTable('task_templates').set({ next_due: null, updated_at: now }).where('id', '=', template.id).execute();
    return null;
  }
  const { row } = await insertActiveTask(
    trx,
    {
      actor,
      values: {
        template_id: template.id,
        previous_instance_id: previousInstanceId,
        title: template.title,
        description: template.description,
        priority: template.priority,
        estimated_duration: template.estimated_duration,
        due_date: due,
        created_at: now,
        updated_at: now,
      },
      limits,
      extra: { template_id: template.id, ...(previousInstanceId ? { generated_after: previousInstanceId } : {}) },
    },
  );
  await trx
    .updateTable('task_templates')
    .set({ next_due: nextOccurrence({ rule, startsAt: template.starts_at, zone, after: due, inclusive: false }), updated_at: now })
    .where('id', '=', template.id)
    .execute();
  return row;
}
