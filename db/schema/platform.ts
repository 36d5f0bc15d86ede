import type { Generated, Insertable, Selectable, Updateable } from 'kysely';

import type { CreatedAt, Json, Timestamp } from './columns.js';

// Tables of db/migrations/0001_platform.sql.

export interface UsersTable {
  id: Generated<string>;
  google_id: string;
  email: string;
  name: string;
  name_customized: Generated<boolean>;
  avatar_url: string | null;
  timezone: Generated<string>;
  tier: Generated<'free' | 'pro'>;
  created_at: CreatedAt;
  updated_at: Timestamp;
}

export interface RefreshTokensTable {
  id: Generated<string>;
  user_id: string;
  family_id: string;
  token_hash: string;
  expires_at: Timestamp;
  revoked_at: Timestamp | null;
  revoked_reason: 'rotated' | 'logout' | 'reuse_detected' | 'new_sign_in' | null;
  created_at: CreatedAt;
  updated_at: Timestamp;
}

export interface IdempotencyKeysTable {
  user_id: string;
  key: string;
  fingerprint: string;
  method: string;
  path: string;
  state: 'in_flight' | 'completed';
  response_status: number | null;
  response_body: Json | null;
  /** The body exactly as first sent, replayed byte for byte (null for rows stored before 0017). */
  response_text: string | null;
  response_headers: Json<Record<string, string>> | null;
  locked_until: Timestamp | null;
  expires_at: Timestamp;
  created_at: CreatedAt;
  updated_at: Timestamp;
}

export type ActivitySource = 'user' | 'ai' | 'system';

export interface ActivityLogsTable {
  id: Generated<string>;
  user_id: string;
  entity_type: string;
  entity_id: string;
  action: string;
  source: ActivitySource;
  extra_data: Json<Record<string, unknown>>;
  request_id: string | null;
  created_at: CreatedAt;
  updated_at: Timestamp;
}

export interface WorkerHeartbeatsTable {
  worker_id: string;
  hostname: string;
  pid: number;
  started_at: Timestamp;
  beat_at: Timestamp;
  created_at: CreatedAt;
  updated_at: Timestamp;
}

export interface PlatformTables {
  users: UsersTable;
  refresh_tokens: RefreshTokensTable;
  idempotency_keys: IdempotencyKeysTable;
  activity_logs: ActivityLogsTable;
  worker_heartbeats: WorkerHeartbeatsTable;
}

export type UserRow = Selectable<UsersTable>;
export type NewUser = Insertable<UsersTable>;
export type UserUpdate = Updateable<UsersTable>;
