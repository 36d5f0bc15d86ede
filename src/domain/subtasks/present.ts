import type { components } from '../../../codegen/api.js';
import type { SubtaskRow } from '../../../db/schema/index.js';
import { iso, isoOrNull } from '../time.js';

export type Subtask = components['schemas']['Subtask'];

export const presentSubtask = (s: SubtaskRow): Subtask => ({
  id: s.id,
  task_id: s.task_id,
  title: s.title,
  completed: s.completed,
  completed_at: isoOrNull(s.completed_at),
  order_index: s.order_index,
  source: s.source,
  created_at: iso(s.created_at),
  updated_at: iso(s.updated_at),
});
