import type { components } from '../../../codegen/api.js';
import type { ReminderRow } from '../../../db/schema/index.js';
import { iso, isoOrNull } from '../time.js';

export type Reminder = components['schemas']['Reminder'];

export const presentReminder = (r: ReminderRow): Reminder => ({
  id: r.id,
  task_id: r.task_id,
  user_id: r.user_id,
  type: r.type,
  offset_minutes: r.offset_minutes,
  method: r.method,
  scheduled_at: iso(r.scheduled_at),
  fired: r.fired,
  fired_at: isoOrNull(r.fired_at),
  created_at: iso(r.created_at),
  updated_at: iso(r.updated_at),
});
