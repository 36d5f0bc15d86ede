import { countNoteConversion, countTaskCompletion } from '../achievements/subscribers.js';
import { webhookSubscribers as webhooks } from '../webhooks/deliveries.js';
import type { EventSubscribers } from './bus.js';

/**
 * Which domain reacts to which event, in the transaction of the change. The composition roots
 * (src/app.ts, jobs/runner.ts) wire this one map onto the bus; an event raised on a bus nobody
 * wired fails its change.
 */
export const domainSubscribers: EventSubscribers = {
  'task.created': [webhooks.taskCreated],
  'task.updated': [webhooks.taskUpdated],
  'task.completed': [countTaskCompletion, webhooks.taskCompleted],
  'task.deleted': [webhooks.taskDeleted],
  'subtask.completed': [],
  'note.converted': [countNoteConversion],
  'note.created': [webhooks.noteCreated],
  'reminder.fired': [webhooks.reminderFired],
};
