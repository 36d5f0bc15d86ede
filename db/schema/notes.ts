import type { ColumnType, Generated, Insertable, Selectable } from 'kysely';
import type { CreatedAt, Timestamp } from './columns.js';

// Tables of db/migrations/0005_notes_ai.sql: notes, the credit ledger, AI counters, voice sessions.

export type TranscriptionStatus = 'pending' | 'completed' | 'failed';

export interface NotesTable {
  id: Generated<string>;
  user_id: string;
  content: string;
  archived: Generated<boolean>;
  voice_url: string | null;
  voice_duration_seconds: number | null;
  transcription_status: TranscriptionStatus | null;
  /** The first successful AI conversion (each note counts once toward notes_10). */
  converted_at: Timestamp | null;
  /** Writable: a recovered note gets its original timestamps back. */
  created_at: Timestamp;
  updated_at: Timestamp;
}

export type CreditKind = 'kickstart' | 'daily' | 'subscription' | 'purchased';
export type CreditEntryType = 'grant' | 'deduct';
export type CreditCategory = 'daily' | 'subscription' | 'purchase' | 'ai' | 'kickstart';

export interface CreditLotsTable {
  id: Generated<string>;
  user_id: string;
  kind: CreditKind;
  amount: number;
  remaining: number;
  /** Past this instant the lot is no longer spendable (daily credits: the next 00:00 UTC). */
  expires_at: Timestamp | null;
  created_at: CreatedAt;
  updated_at: Timestamp;
}

export interface CreditAllocation {
  lot_id: string;
  kind: CreditKind;
  amount: number;
}

export interface AiCreditLedgerTable {
  id: Generated<string>;
  /** Write order; the history is listed by it. int8, read as a number. */
  seq: Generated<number>;
  user_id: string;
  type: CreditEntryType;
  category: CreditCategory;
  /** Signed: positive for grants, negative for charges and expiries. */
  amount: number;
  balance_after: number;
  description: string;
  operation_ref: string;
  lot_id: string | null;
  allocations: ColumnType<CreditAllocation[], string | CreditAllocation[] | undefined, string | CreditAllocation[]>;
  created_at: Timestamp;
  updated_at: Timestamp;
}

export interface AiTaskCountersTable {
  user_id: string;
  session_id: string;
  task_id: string;
  count: Generated<number>;
  created_at: CreatedAt;
  updated_at: Timestamp;
}

export type VoiceSessionStatus = 'active' | 'completed' | 'failed';
export type VoiceEndReason = 'end_stream' | 'disconnected' | 'max_duration' | 'insufficient_credits' | 'provider_failed' | 'server_shutdown';

/** At most one 'active' row per user (voice_sessions_one_active_key, 0007_voice_one_session.sql). */
export interface VoiceSessionsTable {
  id: Generated<string>;
  user_id: string;
  status: Generated<VoiceSessionStatus>;
  end_reason: VoiceEndReason | null;
  transcript: Generated<string>;
  duration_seconds: Generated<number>;
  credits_used: Generated<number>;
  started_at: Timestamp;
  ended_at: Timestamp | null;
  created_at: CreatedAt;
  updated_at: Timestamp;
}

export interface NotesAiTables {
  notes: NotesTable;
  credit_lots: CreditLotsTable;
  ai_credit_ledger: AiCreditLedgerTable;
  ai_task_counters: AiTaskCountersTable;
  voice_sessions: VoiceSessionsTable;
}

export type NoteRow = Selectable<NotesTable>;
export type NewNote = Insertable<NotesTable>;
export type CreditLotRow = Selectable<CreditLotsTable>;
export type CreditEntryRow = Selectable<AiCreditLedgerTable>;
export type VoiceSessionRow = Selectable<VoiceSessionsTable>;
