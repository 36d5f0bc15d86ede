import type { Database } from '../../db/index.js';
import { fireDueReminders, fireReminder, type FireOutcome } from '../../src/domain/reminders/fire-reminder.js';
import type { JobPayloads } from '../names.js';

/** How long one job keeps taking batches of other due reminders before it ends. */
const BATCH_BUDGET_MS = 10_000;
const BATCH_SIZE = 200;

/**
 * `reminder_fire`: fires its reminder at its time (job key `reminder:<id>`; idempotent), then the
 * other reminders already due, in batches, while there are any: a burst due in the same minute
 * is fired by the jobs that run first, and the waiting jobs of what they fired are removed.
 */
export async function reminderFire(
  deps: { db: Database },
  payload: JobPayloads['reminder_fire'],
  onFired: (reminderId: string, outcome: FireOutcome) => void = () => {},
): Promise<FireOutcome> {
  const outcome = await fireReminder(deps.db, payload.reminderId);
  onFired(payload.reminderId, outcome);
  const until = Date.now() + BATCH_BUDGET_MS;
  for (;;) {
    const batch = await fireDueReminders(deps.db, BATCH_SIZE);
    for (const f of batch) onFired(f.reminderId, f.outcome);
    if (batch.length < BATCH_SIZE || Date.now() > until) break;
  }
  return outcome;
}
