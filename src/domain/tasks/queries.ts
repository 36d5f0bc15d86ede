import { sql, type Compilable } from 'kysely';
import { everyColumn } from '../../../db/columns.js';
import type { Executor } from '../../../db/index.js';
import { compileOnce, shapeBuilder } from '../../../db/query-shapes.js';
import type { TaskRow } from '../../../db/schema/index.js';
import { forbidden, notFound } from '../../core/errors.js';

/** A task row with the counts of its subtasks, as every Task response carries them. */
export type TaskWithCounts = TaskRow & { subtask_count: number; subtask_completed_count: number };

/**
 * Every column of a task row, by name, for statements that must not select `*` (prepared ones: a
 * column added by a migration would change their result type under a running process).
 */
export const TASK_COLUMNS = everyColumn<TaskRow>()(['id', 'user_id', 'template_id', 'previous_instance_id', 'title', 'description', 'priority', 'due_date', 'estimated_duration', 'focus_time_seconds', 'completed', 'completed_at', 'completed_by', 'hidden', 'archived', 'version', 'created_at', 'updated_at']);

/** Counts of one task's subtasks, as a lateral subquery joined on `t.id`. */
export const subtaskCounts = (db: Executor) =>
  db
    .selectFrom('subtasks as s')
    .select([sql<number>`count(*)::int`.as('subtask_count'), sql<number>`(count(*) filter (where s.completed))::int`.as('subtask_completed_count')])
    .whereRef('s.task_id', '=', sql.ref('t.id'));

const taskWithCounts = compileOnce(
  (v: { taskId: string }) =>
    shapeBuilder
      .selectFrom('task_instances as t')
      .leftJoinLateral(() => subtaskCounts(shapeBuilder).as('c'), (join) => join.onTrue())
      .select(TASK_COLUMNS.map((c) => `t.${c}` as const))
      .select(['c.subtask_count', 'c.subtask_completed_count'])
      .where('t.id', '=', v.taskId) as unknown as Compilable<TaskWithCounts>,
);

export async function findTaskWithCounts(db: Executor, taskId: string): Promise<TaskWithCounts | undefined> {
  return (await db.executeQuery(taskWithCounts({ taskId }))).rows[0];
}

/** The subtask counts as RETURNING columns of a statement that writes task_instances: no extra round trip. */
export const returnedSubtaskCounts = [
  sql<number>`(select count(*)::int from subtasks s where s.task_id = task_instances.id)`.as('subtask_count'),
  sql<number>`(select count(*)::int from subtasks s where s.task_id = task_instances.id and s.completed)`.as('subtask_completed_count'),
] as const;

/** Adds the subtask counts to a task row just written (the row of an UPDATE … RETURNING). */
export async function withCounts(db: Executor, row: TaskRow): Promise<TaskWithCounts> {
  const c = await db
    .selectFrom('subtasks')
    .select([sql<number>`count(*)::int`.as('n'), sql<number>`(count(*) filter (where completed))::int`.as('done')])
    .where('task_id', '=', row.id)
    .executeTakeFirstOrThrow();
  return { ...row, subtask_count: Number(c.n), subtask_completed_count: Number(c.done) };
}

/**
 * The caller's task by id: 404 when there is none, 403 when it is another user's (FR-005).
 * `forUpdate` locks the row until the end of the transaction.
 */
const taskById = compileOnce((v: { taskId: string }) => shapeBuilder.selectFrom('task_instances').select(TASK_COLUMNS).where('id', '=', v.taskId));
const taskByIdForUpdate = compileOnce((v: { taskId: string }) => shapeBuilder.selectFrom('task_instances').select(TASK_COLUMNS).where('id', '=', v.taskId).forUpdate());

export async function ownedTask(db: Executor, { userId, taskId, opts = {} }: { userId: string; taskId: string; opts?: { forUpdate?: boolean } }): Promise<TaskRow> {
  const [row] = (await db.executeQuery((opts.forUpdate ? taskByIdForUpdate : taskById)({ taskId }))).rows;
  if (!row) throw notFound('Task');
  if (row.user_id !== userId) throw forbidden();
  return row;
}

const activeTaskCount = compileOnce((v: { userId: string }) =>
  shapeBuilder.selectFrom('task_instances').select((eb) => eb.fn.countAll<number>().as('n')).where('user_id', '=', v.userId).where('hidden', '=', false).where('completed', '=', false),
);

/** Active tasks count toward the tier's limit: not completed and not hidden. */
export async function countActiveTasks(db: Executor, userId: string): Promise<number> {
  return Number((await db.executeQuery(activeTaskCount({ userId }))).rows[0]!.n);
}
