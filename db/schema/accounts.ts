import type { Generated, Selectable } from 'kysely';
import type { CreatedAt, Json, Timestamp } from './columns.js';

// Tables of db/migrations/0013_account_deletions.sql.

export type DeletionSource = 'user_request';

/** The anonymous audit entry an account deletion leaves: no user id, email or name (see the migration). */
export interface AccountDeletionsTable {
  id: Generated<string>;
  deleted_at: Timestamp;
  source: DeletionSource;
  subscription_status: 'none' | 'active' | 'past_due' | 'grace' | 'cancelled' | 'expired';
  counts: Json<Record<string, number>>;
  created_at: CreatedAt;
  updated_at: Timestamp;
}

export interface AccountTables {
  account_deletions: AccountDeletionsTable;
}

export type AccountDeletionRow = Selectable<AccountDeletionsTable>;
