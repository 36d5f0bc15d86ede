import type { CompiledQuery } from 'kysely';
import type { Executor } from '../../db/index.js';
import { listTasks, type TaskFilters } from '../../src/domain/tasks/list-tasks.js';

// The SQL of GET /tasks exactly as the service runs it, for the peer and the bare server: for each
// combination of filters, the page statement and the count statement listTasks issues, captured
// from it with an executor that records the statements instead of running them. Each parameter is
// named by the marker value it was captured with, so a request binds its own values in order.

export type ListParam = 'userId' | 'hidden' | 'completed' | 'priority' | 'dueBefore' | 'dueAfter' | 'offset' | 'limit';
export interface ListStatement {
  /** Name of the prepared statement (pg prepares it once per connection). */
  name: string;
  text: string;
  params: ListParam[];
}
export interface ListShape {
  page: ListStatement;
  count: ListStatement;
}

const FILTERS = ['completed', 'priority', 'due_before', 'due_after'] as const;
const USER = '00000000-0000-4000-8000-00000000beef';
const BEFORE = '2100-01-02T00:00:00.000Z';
const AFTER = '2100-01-01T00:00:00.000Z';
// Markers: each value says which parameter it is (hidden is false, completed true, limit 7, offset 3).
const LIMIT = 7;
const OFFSET = 3;

/** The shape key of a request's filters: which of them are present. */
export const shapeKey = (f: { completed?: unknown; priority?: unknown; due_before?: unknown; due_after?: unknown }) => FILTERS.map((k) => (f[k] === undefined ? '0' : '1')).join('');

function nameOf(value: unknown): ListParam {
  if (value === USER) return 'userId';
  if (value === false) return 'hidden';
  if (value === true) return 'completed';
  if (value === 'high') return 'priority';
  if (value instanceof Date) return value.toISOString() === BEFORE ? 'dueBefore' : 'dueAfter';
  if (value === LIMIT) return 'limit';
  if (value === OFFSET) return 'offset';
  throw new Error(`peer statements: unexpected parameter ${String(value)}`);
}

const row = { id: USER, user_id: USER, template_id: null, previous_instance_id: null, title: 't', description: '', priority: 'high', due_date: null, estimated_duration: null, focus_time_seconds: 0, completed: true, completed_at: new Date(), completed_by: 'manual', hidden: false, archived: false, version: 1, created_at: new Date(), updated_at: new Date(), subtask_count: 0, subtask_completed_count: 0 };

/** Page and count statements of listTasks for all 16 filter combinations, by shapeKey. */
export async function captureListStatements(): Promise<Map<string, ListShape>> {
  const shapes = new Map<string, ListShape>();
  for (let bits = 0; bits < 16; bits++) {
    const f: TaskFilters = {};
    if (bits & 1) f.completed = true;
    if (bits & 2) f.priority = 'high';
    if (bits & 4) f.due_before = BEFORE;
    if (bits & 8) f.due_after = AFTER;
    const captured: CompiledQuery[] = [];
    // A full page makes listTasks ask for the count too.
    const recorder = {
      executeQuery: async (q: CompiledQuery) => {
        captured.push(q);
        return { rows: captured.length === 1 ? Array.from({ length: LIMIT }, () => ({ ...row })) : [{ n: 100 }] };
      },
    } as unknown as Executor;
    await listTasks(recorder, { userId: USER, filter: f, page: { offset: OFFSET, limit: LIMIT } });
    if (captured.length !== 2) throw new Error(`peer statements: expected a page and a count statement, captured ${captured.length}`);
    const key = shapeKey(f);
    const [page, count] = captured.map((q, i) => ({ name: `list_${key}_${i === 0 ? 'page' : 'count'}`, text: q.sql, params: q.parameters.map(nameOf) })) as [ListStatement, ListStatement];
    shapes.set(key, { page, count });
  }
  return shapes;
}
