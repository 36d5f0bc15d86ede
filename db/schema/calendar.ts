import type { Selectable } from 'kysely';
import type { Timestamp } from './columns.js';

// Tables of db/migrations/0012_calendar_feeds.sql.

export interface CalendarFeedsTable {
  user_id: string;
  /** SHA-256 (hex) of the feed token; the token itself is shown once and never stored. */
  token_hash: string;
  /** When the current token was made (a rotation sets it anew). */
  created_at: Timestamp;
  updated_at: Timestamp;
  last_fetched_at: Timestamp | null;
}

export interface CalendarTables {
  calendar_feeds: CalendarFeedsTable;
}

export type CalendarFeedRow = Selectable<CalendarFeedsTable>;
