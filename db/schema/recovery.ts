import type { Generated, Selectable } from 'kysely';
import type { CreatedAt, Json, Timestamp } from './columns.js';

// Tables of db/migrations/0002_recovery.sql.

export type TombstoneEntityType = 'task' | 'note';

export interface DeletionTombstonesTable {
  id: Generated<string>;
  user_id: string;
  entity_type: TombstoneEntityType;
  entity_id: string;
  /** A short preview for the list: the task's title or the note's first characters. */
  title: string;
  /** Everything needed to restore the entity, in the owning domain's own format. */
  snapshot: Json<Record<string, unknown>>;
  deleted_at: Timestamp;
  recoverable_until: Timestamp;
  created_at: CreatedAt;
  updated_at: Timestamp;
}

export interface RecoveryTables {
  deletion_tombstones: DeletionTombstonesTable;
}

export type TombstoneRow = Selectable<DeletionTombstonesTable>;
