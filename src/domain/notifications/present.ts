import type { components } from '../../../codegen/api.js';
import type { NotificationRow } from '../../../db/schema/index.js';
import { iso, isoOrNull } from '../time.js';

export type Notification = components['schemas']['Notification'];

/** The contract's Notification; `message` repeats `body` because the production frontend reads it. */
export const presentNotification = (n: NotificationRow): Notification => ({
  id: n.id,
  user_id: n.user_id,
  type: n.type,
  title: n.title,
  body: n.body,
  message: n.body,
  action_url: n.action_url,
  task_id: n.task_id,
  read: n.read,
  read_at: isoOrNull(n.read_at),
  created_at: iso(n.created_at),
  updated_at: iso(n.updated_at),
});
