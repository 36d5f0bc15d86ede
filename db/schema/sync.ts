import type { Generated, Selectable } from 'kysely';
import type { Timestamp } from './columns.js';

// Tables of db/migrations/0010_sync.sql (written by triggers only).

export type SyncEntityType = 'task' | 'subtask' | 'reminder' | 'note' | 'notification';

export interface SyncChangesTable {
  seq: Generated<number>;
  /** xid8 of the writing transaction, read as its decimal text. */
  xid: Generated<string>;
  user_id: string;
  entity_type: SyncEntityType;
  entity_id: string;
  deleted: boolean;
  changed_at: Generated<Timestamp>;
}

export interface SyncTables {
  sync_changes: SyncChangesTable;
}

export type SyncChangeRow = Selectable<SyncChangesTable>;
