import type { Selectable } from 'kysely';

// Tables of db/migrations/0011_search.sql (written by triggers only).

export interface SearchDocumentsTable {
  id: string;
  user_id: string;
  kind: 'task' | 'subtask' | 'note';
  /** The parent task of a subtask. */
  task_id: string | null;
  title: string;
  body: string;
  /** tsvector; read through SQL only. */
  document: string;
}

export interface SearchTables {
  search_documents: SearchDocumentsTable;
}

export type SearchDocumentRow = Selectable<SearchDocumentsTable>;
