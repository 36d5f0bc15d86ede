import type { components } from '../../../codegen/api.js';
import type { TaskTemplateRow } from '../../../db/schema/index.js';
import { iso, isoOrNull } from '../time.js';
import { describeRrule } from './recurrence.js';

export type Template = components['schemas']['Template'];

export const presentTemplate = (t: TaskTemplateRow): Template => ({
  id: t.id,
  user_id: t.user_id,
  title: t.title,
  description: t.description,
  priority: t.priority,
  rrule: t.rrule,
  rrule_description: describeRrule(t.rrule),
  estimated_duration: t.estimated_duration,
  next_due: isoOrNull(t.next_due),
  active: t.active,
  created_at: iso(t.created_at),
  updated_at: iso(t.updated_at),
});
