import { sql, type Compilable } from 'kysely';
import type { Executor } from '../../../db/index.js';
import { QueryShapes, shapeBuilder } from '../../../db/query-shapes.js';
import type { Priority } from '../../../db/schema/index.js';
import { invalidField } from '../../core/errors.js';
import { toPage, type PageParams } from '../../core/pagination.js';
import { presentTask } from './present.js';
import { subtaskCounts, TASK_COLUMNS, type TaskWithCounts } from './queries.js';
import { parseInstant } from './rules.js';

export interface TaskFilters {
  completed?: boolean;
  priority?: Priority;
  /** Omitted or false: visible tasks only; true: hidden tasks only. */
  hidden?: boolean;
  due_before?: string;
  due_after?: string;
}

interface ListValues extends Record<string, unknown> {
  userId: string;
  hidden: boolean;
  completed?: boolean;
  priority?: Priority;
  dueBefore?: Date;
  dueAfter?: Date;
  offset: number;
  limit: number;
}

/** Which filters are present: the SQL differs only by these. */
const shapeOf = (v: ListValues) => [v.completed, v.priority, v.dueBefore, v.dueAfter].map((x) => (x === undefined ? '0' : '1')).join('');

const builder = shapeBuilder;

function filtered(v: ListValues, shape: string) {
  const [completed, priority, dueBefore, dueAfter] = shape.split('').map((c) => c === '1');
  let q = builder.selectFrom('task_instances').where('user_id', '=', v.userId).where('hidden', '=', v.hidden);
  if (completed) q = q.where('completed', '=', v.completed!);
  if (priority) q = q.where('priority', '=', v.priority!);
  if (dueBefore) q = q.where('due_date', '<=', v.dueBefore!);
  if (dueAfter) q = q.where('due_date', '>=', v.dueAfter!);
  return q;
}

const pageQueries = new QueryShapes<ListValues, TaskWithCounts>((v, shape) => {
  const pageRows = filtered(v, shape).select(TASK_COLUMNS).orderBy('created_at', 'desc').orderBy('id', 'desc').offset(v.offset).limit(v.limit);
  return builder
    .selectFrom(pageRows.as('t'))
    .leftJoinLateral(() => subtaskCounts(builder).as('c'), (join) => join.onTrue())
    .select(TASK_COLUMNS.map((c) => `t.${c}` as const))
    .select(['c.subtask_count', 'c.subtask_completed_count'])
    .orderBy('t.created_at', 'desc')
    .orderBy('t.id', 'desc') as unknown as Compilable<TaskWithCounts>;
}, { prepared: true });

const countQueries = new QueryShapes<ListValues, { n: number }>((v, shape) => filtered(v, shape).select(sql<number>`count(*)`.as('n')), { prepared: true });

/**
 * A page of the user's tasks, newest first. The page is chosen first and only its rows get their
 * subtask counts; the total is a separate count when the page cannot tell it (see toPage), so the
 * cost does not grow with the user's history.
 */
export async function listTasks(db: Executor, { userId, filter: f, page }: { userId: string; filter: TaskFilters; page: PageParams }) {
  const dueBefore = f.due_before === undefined ? undefined : parseInstant(f.due_before, 'query.due_before');
  const dueAfter = f.due_after === undefined ? undefined : parseInstant(f.due_after, 'query.due_after');
  if (dueBefore && dueAfter && dueAfter.getTime() > dueBefore.getTime()) throw invalidField('query.due_after', 'must not be later than due_before');

  const values: ListValues = { userId, hidden: f.hidden ?? false, completed: f.completed, priority: f.priority, dueBefore, dueAfter, offset: page.offset, limit: page.limit };
  const shape = shapeOf(values);
  const rows = (await db.executeQuery(pageQueries.query(shape, values))).rows;
  return toPage(rows, page, { present: presentTask, countAll: async () => Number((await db.executeQuery(countQueries.query(shape, values))).rows[0]!.n) });
}
