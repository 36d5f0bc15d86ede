import type { ReminderRow, SubtaskRow, TaskRow } from '../../../db/schema/index.js';

// The tombstone of a task (FR-062/063): the rows as they were, so recovery restores the original
// ids, fields, version and timestamps. Dates travel as ISO strings inside the jsonb.

type Jsonified<T> = { [K in keyof T]: T[K] extends Date ? string : T[K] extends Date | null ? string | null : T[K] };

export interface TaskSnapshot {
  format: 1;
  task: Jsonified<TaskRow>;
  subtasks: Jsonified<SubtaskRow>[];
  reminders: Jsonified<ReminderRow>[];
}

export const snapshotOf = (task: TaskRow, subtasks: SubtaskRow[], reminders: ReminderRow[]): TaskSnapshot =>
  JSON.parse(JSON.stringify({ format: 1, task, subtasks, reminders })) as TaskSnapshot;

const date = (v: string) => new Date(v);
const dateOrNull = (v: string | null) => (v === null ? null : new Date(v));

export const taskFromSnapshot = (t: TaskSnapshot['task']): TaskRow => ({
  ...t,
  due_date: dateOrNull(t.due_date),
  completed_at: dateOrNull(t.completed_at),
  created_at: date(t.created_at),
  updated_at: date(t.updated_at),
});

export const subtaskFromSnapshot = (s: TaskSnapshot['subtasks'][number]): SubtaskRow => ({
  ...s,
  completed_at: dateOrNull(s.completed_at),
  created_at: date(s.created_at),
  updated_at: date(s.updated_at),
});

export const reminderFromSnapshot = (r: TaskSnapshot['reminders'][number]): ReminderRow => ({
  ...r,
  scheduled_at: date(r.scheduled_at),
  fired_at: dateOrNull(r.fired_at),
  created_at: date(r.created_at),
  updated_at: date(r.updated_at),
});
