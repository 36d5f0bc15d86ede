import type { components } from '../../../codegen/api.js';
import type { ReminderRow, SubtaskRow } from '../../../db/schema/index.js';
import { presentReminder } from '../reminders/present.js';
import { presentSubtask } from '../subtasks/present.js';
import { iso, isoOrNull } from '../time.js';
import type { TaskWithCounts } from './queries.js';

export type Task = components['schemas']['Task'];
export type TaskDetail = components['schemas']['TaskDetail'];

export const presentTask = (t: TaskWithCounts): Task => ({
  id: t.id,
  user_id: t.user_id,
  template_id: t.template_id,
  title: t.title,
  description: t.description,
  priority: t.priority,
  due_date: isoOrNull(t.due_date),
  estimated_duration: t.estimated_duration,
  focus_time_seconds: t.focus_time_seconds,
  completed: t.completed,
  completed_at: isoOrNull(t.completed_at),
  completed_by: t.completed_by,
  hidden: t.hidden,
  archived: t.archived,
  subtask_count: Number(t.subtask_count),
  subtask_completed_count: Number(t.subtask_completed_count),
  version: t.version,
  created_at: iso(t.created_at),
  updated_at: iso(t.updated_at),
});

/** The task with its subtasks (by order_index) and reminders (by scheduled_at), in that order. */
export const presentTaskDetail = (t: TaskWithCounts, subtasks: SubtaskRow[], reminders: ReminderRow[]): TaskDetail => ({
  ...presentTask(t),
  subtasks: subtasks.map(presentSubtask),
  reminders: reminders.map(presentReminder),
});
