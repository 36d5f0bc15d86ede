import type { Generated, Insertable, Selectable, Updateable } from 'kysely';
import type { CreatedAt, Timestamp } from './columns.js';

// Tables of db/migrations/0003_tasks.sql.

export type Priority = 'low' | 'medium' | 'high';
export type CompletedBy = 'manual' | 'auto' | 'force';
export type SubtaskSource = 'user' | 'ai';
export type ReminderType = 'before' | 'after' | 'absolute';
export type ReminderMethod = 'push' | 'in_app';
export type NotificationType = 'reminder' | 'achievement' | 'subscription' | 'system';

export interface TaskTemplatesTable {
  id: Generated<string>;
  user_id: string;
  title: string;
  description: Generated<string>;
  priority: Generated<Priority>;
  /** RFC 5545 RRULE value without DTSTART. */
  rrule: string;
  /** DTSTART: anchors the rule; its wall-clock time in the user's zone is every occurrence's time. */
  starts_at: Timestamp;
  estimated_duration: number | null;
  /** Due date of the next instance to generate; null when inactive or exhausted. */
  next_due: Timestamp | null;
  active: Generated<boolean>;
  created_at: CreatedAt;
  updated_at: Timestamp;
}

export interface TaskInstancesTable {
  id: Generated<string>;
  user_id: string;
  template_id: string | null;
  /** The completed instance whose completion generated this one (makes generation idempotent). */
  previous_instance_id: string | null;
  title: string;
  description: Generated<string>;
  priority: Generated<Priority>;
  due_date: Timestamp | null;
  estimated_duration: number | null;
  focus_time_seconds: Generated<number>;
  completed: Generated<boolean>;
  completed_at: Timestamp | null;
  completed_by: CompletedBy | null;
  hidden: Generated<boolean>;
  archived: Generated<boolean>;
  version: Generated<number>;
  /** Recovery restores the original value, so it is writable (unlike most created_at columns). */
  created_at: Timestamp;
  updated_at: Timestamp;
}

export interface SubtasksTable {
  id: Generated<string>;
  task_id: string;
  title: string;
  completed: Generated<boolean>;
  completed_at: Timestamp | null;
  /** Gapless 0..n-1 within the task (unique, checked at commit). */
  order_index: number;
  source: Generated<SubtaskSource>;
  created_at: Timestamp;
  updated_at: Timestamp;
}

export interface RemindersTable {
  id: Generated<string>;
  user_id: string;
  task_id: string;
  type: ReminderType;
  /** Signed minutes from the due date: <= 0 for before, >= 0 for after, null for absolute. */
  offset_minutes: number | null;
  method: Generated<ReminderMethod>;
  scheduled_at: Timestamp;
  fired: Generated<boolean>;
  fired_at: Timestamp | null;
  created_at: Timestamp;
  updated_at: Timestamp;
}

export interface NotificationsTable {
  id: Generated<string>;
  user_id: string;
  type: NotificationType;
  title: string;
  body: Generated<string>;
  action_url: string | null;
  /** The task a reminder notification is about; no foreign key, it outlives a deleted task. */
  task_id: string | null;
  read: Generated<boolean>;
  read_at: Timestamp | null;
  created_at: CreatedAt;
  updated_at: Timestamp;
}

export interface TaskTables {
  task_templates: TaskTemplatesTable;
  task_instances: TaskInstancesTable;
  subtasks: SubtasksTable;
  reminders: RemindersTable;
  notifications: NotificationsTable;
}

export type TaskTemplateRow = Selectable<TaskTemplatesTable>;
export type NewTaskTemplate = Insertable<TaskTemplatesTable>;
export type TaskTemplateUpdate = Updateable<TaskTemplatesTable>;
export type TaskRow = Selectable<TaskInstancesTable>;
export type NewTask = Insertable<TaskInstancesTable>;
export type TaskUpdate = Updateable<TaskInstancesTable>;
export type SubtaskRow = Selectable<SubtasksTable>;
export type NewSubtask = Insertable<SubtasksTable>;
export type ReminderRow = Selectable<RemindersTable>;
export type NewReminder = Insertable<RemindersTable>;
export type NotificationRow = Selectable<NotificationsTable>;
