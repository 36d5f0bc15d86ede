import { sql, type Compilable } from 'kysely';
import type { Executor } from '../../../db/index.js';
import { QueryShapes, rowOf, rowShape, shapeBuilder } from '../../../db/query-shapes.js';
import type { Priority, TaskUpdate } from '../../../db/schema/index.js';
import { archived as archivedError, conflict, invalidField, notFound } from '../../core/errors.js';
import { recordActivity } from '../activity/record-activity.js';
import type { Actor } from '../actor.js';
import { emit } from '../events/bus.js';
import { effectiveLimits, type EffectiveLimits } from '../limits/effective-limits.js';
import { lockFor } from '../locks.js';
import { moveRelativeReminders } from '../reminders/schedule.js';
import { changeRecurrence, type ApplyTo } from '../templates/change-recurrence.js';
import { afterCompletion, type AchievementUnlock } from './completion.js';
import type { TaskResult } from './create-task.js';
import { inTransaction } from './in-transaction.js';
import { presentTask } from './present.js';
import { countActiveTasks, ownedTask, returnedSubtaskCounts, TASK_COLUMNS, withCounts, type TaskWithCounts } from './queries.js';
import { requestedDue } from './due-string.js';
import { checkDescription, checkDueDate, checkVersions, cleanTitle, preconditionFailed, taskLimitExceeded, versionConflict } from './rules.js';

export interface UpdateTaskInput {
  title?: string;
  description?: string;
  priority?: Priority;
  due_date?: string | null;
  /** Natural language ("next friday") in the user's time zone, instead of `due_date`. */
  due_string?: string;
  estimated_duration?: number | null;
  archived?: boolean;
  completed?: boolean;
  hidden?: boolean;
  version?: number;
  rrule?: string;
  apply_to?: ApplyTo;
}

export interface UpdateTaskOptions {
  /** The version of an `If-Match` header. */
  ifMatch?: number;
}

/** Fields whose edit needs the version it is based on (SPEC §3); `completed` and `hidden` do not. */
const CONTENT_FIELDS = ['title', 'description', 'priority', 'due_date', 'due_string', 'estimated_duration', 'archived', 'rrule'] as const;
/** What an archived task still accepts without being un-archived. */
const ALLOWED_WHILE_ARCHIVED = new Set(['hidden', 'version', 'archived']);

const sameInstant = (a: Date | null, b: Date | null) => (a?.getTime() ?? null) === (b?.getTime() ?? null);

/** The changed fields by name (a rowShape of them), then the row's id, its version and the time. */
const taskUpdates = new QueryShapes<TaskUpdate & { $updatedAt: Date; $id: string; $version: number }, TaskWithCounts>(
  (v, shape) =>
    shapeBuilder
      .updateTable('task_instances')
      .set({ ...rowOf<TaskUpdate>(v, shape), version: sql<number>`version + 1`, updated_at: v.$updatedAt })
      .where('id', '=', v.$id)
      .where('version', '=', v.$version)
      .returning(TASK_COLUMNS)
      .returning(returnedSubtaskCounts) as unknown as Compilable<TaskWithCounts>,
);

/**
 * PATCH /tasks/{id} (FR-008, FR-014, FR-058), also used by AI `update_task` and `complete_task`.
 *
 * Optimistic locking: a request that names a version (body or If-Match) is checked against the row
 * it read, and the UPDATE carries `where version = <that version>`, so of two concurrent edits
 * based on the same version exactly one wins. A version-less toggle of `completed`/`hidden` locks
 * the current row instead and applies to it, so it never undoes a concurrent edit.
 */
export async function updateTask(db: Executor, { actor, taskId, input, opts = {} }: { actor: Actor; taskId: string; input: UpdateTaskInput; opts?: UpdateTaskOptions }): Promise<TaskResult> {
  const contentKeys = CONTENT_FIELDS.filter((k) => input[k] !== undefined);
  const hasToggle = input.completed !== undefined || input.hidden !== undefined;
  if (contentKeys.length === 0 && !hasToggle) throw invalidField('body', 'names nothing to change besides version');
  const versioned = input.version !== undefined || opts.ifMatch !== undefined;
  if (contentKeys.length > 0 && !versioned) {
    throw invalidField('body.version', 'is required to edit title, description, priority, due_date, due_string, estimated_duration, archived or rrule (or send If-Match)');
  }
  if ((input.rrule === undefined) !== (input.apply_to === undefined)) throw invalidField(input.rrule === undefined ? 'body.rrule' : 'body.apply_to', 'rrule and apply_to go together');
  const title = input.title === undefined ? undefined : cleanTitle(input.title);
  const now = new Date();

  return inTransaction(db, async (trx) => {
    const { due: newDue, field: dueField } = await requestedDue(trx, { userId: actor.userId, input, now });
    // A request that can make the task active again counts under the user's active-task lock,
    // taken before the row lock like every other path (no lock-order inversion).
    const mayActivate = input.hidden === false || input.completed === false;
    if (mayActivate) await lockFor(trx, 'active-tasks', actor.userId);
    const current = await ownedTask(trx, { userId: actor.userId, taskId, opts: { forUpdate: !versioned } });
    checkVersions(current.version, input.version, opts.ifMatch);

    if (current.archived && input.archived !== false) {
      const disallowed = Object.keys(input).filter((k) => input[k as keyof UpdateTaskInput] !== undefined && !ALLOWED_WHILE_ARCHIVED.has(k));
      if (disallowed.length > 0) throw archivedError();
    }

    // The tier's limits (two queries) only when something is checked against them: a changed
    // description, or a task that becomes active; a plain toggle or edit does without.
    let limits: EffectiveLimits | undefined;
    const currentLimits = async () => (limits ??= await effectiveLimits(trx, actor.userId));
    const changes: TaskUpdate = {};
    const changed: string[] = [];
    const set = <K extends keyof TaskUpdate>(field: K, value: TaskUpdate[K], same: boolean) => {
      if (same) return;
      changes[field] = value;
      changed.push(field);
    };
    if (title !== undefined) set('title', title, title === current.title);
    if (input.description !== undefined && input.description !== current.description) set('description', checkDescription(input.description, await currentLimits()), false);
    if (input.priority !== undefined) set('priority', input.priority, input.priority === current.priority);
    if (newDue !== undefined) {
      // Recurring instances follow their rule, not the 30-day window of FR-013.
      if (newDue !== null && current.template_id === null) checkDueDate(newDue, current.created_at, dueField);
      set('due_date', newDue, sameInstant(newDue, current.due_date));
    }
    if (input.estimated_duration !== undefined) set('estimated_duration', input.estimated_duration, input.estimated_duration === current.estimated_duration);
    if (input.archived !== undefined) set('archived', input.archived, input.archived === current.archived);
    if (input.hidden !== undefined) set('hidden', input.hidden, input.hidden === current.hidden);

    const completing = input.completed === true && !current.completed;
    const uncompleting = input.completed === false && current.completed;
    const archivedAfter = input.archived ?? current.archived;
    if (completing && archivedAfter) throw archivedError();
    if (completing) {
      Object.assign(changes, { completed: true, completed_at: now, completed_by: 'manual' as const });
      changed.push('completed');
    } else if (uncompleting) {
      Object.assign(changes, { completed: false, completed_at: null, completed_by: null });
      changed.push('completed');
    }

    if (input.rrule !== undefined && input.apply_to !== undefined) {
      if (current.template_id === null) throw invalidField('body.rrule', 'the task is not an instance of a recurring template');
      if (current.completed) throw conflict('The recurrence of a completed instance cannot be edited');
      const templateId = await changeRecurrence(trx, { actor, task: current, rrule: input.rrule, applyTo: input.apply_to, now });
      changes.template_id = templateId;
      changed.push('rrule');
    }

    const activeBefore = !current.completed && !current.hidden;
    const activeAfter = !(input.completed ?? current.completed) && !(input.hidden ?? current.hidden);
    if (activeAfter && !activeBefore) {
      const { maxTasks } = await currentLimits();
      if ((await countActiveTasks(trx, actor.userId)) >= maxTasks) throw taskLimitExceeded(maxTasks);
    }

    if (changed.length === 0) return { task: presentTask(await withCounts(trx, current)), unlockedAchievements: [] };

    const [row] = (await trx.executeQuery(taskUpdates.query(rowShape(changes), { ...changes, $updatedAt: now, $id: current.id, $version: current.version }))).rows;
    if (!row) throw await staleVersionError(trx, { taskId: current.id, expected: input.version ?? opts.ifMatch!, viaIfMatch: opts.ifMatch !== undefined });

    if (changes.due_date !== undefined) await moveRelativeReminders(trx, { task: row, actor, now });
    await recordActivity(trx, { userId: actor.userId, entityType: 'task', entityId: row.id, action: 'task_updated', source: actor.source, requestId: actor.requestId, extra: { fields: changed } });
    await emit(trx, { type: 'task.updated', taskId: row.id, fields: changed }, actor);
    let unlockedAchievements: AchievementUnlock[] = [];
    if (completing) unlockedAchievements = await afterCompletion(trx, { actor, task: row, completedBy: 'manual' });
    return { task: presentTask(row), unlockedAchievements };
  });
}

/** The versioned UPDATE matched no row: another edit committed after our read (or the task went). */
export async function staleVersionError(db: Executor, { taskId, expected, viaIfMatch }: { taskId: string; expected: number; viaIfMatch: boolean }) {
  const now = await db.selectFrom('task_instances').select('version').where('id', '=', taskId).executeTakeFirst();
  if (!now) return notFound('Task');
  return viaIfMatch ? preconditionFailed(now.version) : versionConflict(expected, now.version);
}
