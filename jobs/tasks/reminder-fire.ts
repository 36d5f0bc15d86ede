import type { Database } from '../../db/index.js';
import { fireReminder, type FireOutcome } from '../../src/domain/reminders/fire-reminder.js';
import type { JobPayloads } from '../names.js';

/** `reminder_fire`: fires one reminder at its time (job key `reminder:<id>`); idempotent. */
export function reminderFire(deps: { db: Database }, payload: JobPayloads['reminder_fire']): Promise<FireOutcome> {
  return fireReminder(deps.db, payload.reminderId);
}
