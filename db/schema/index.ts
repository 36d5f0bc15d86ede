import type { Insertable, Selectable, Updateable } from 'kysely';
import type { DB } from './generated.js';

// The database as Kysely sees it. generated.ts is written by `npm run db:codegen` from the migrated
// database (CI fails when it drifts from db/migrations): text columns whose CHECK lists their
// values come out as those unions. This file only names rows and column types the domain uses;
// it states no column fact of its own (docs/decisions/0002-schema-from-the-database.md).

export type { DB } from './generated.js';
export type { CreditAllocation, JsonColumn } from './json.js';

/** The type a column reads as, without null. */
type Column<T extends keyof DB, C extends keyof Selectable<DB[T]>> = NonNullable<Selectable<DB[T]>[C]>;

export type ActivityLogsTable = DB['activity_logs'];

export type UserRow = Selectable<DB['users']>;
export type NewUser = Insertable<DB['users']>;
export type UserUpdate = Updateable<DB['users']>;
export type ActivitySource = Column<'activity_logs', 'source'>;

export type TombstoneRow = Selectable<DB['deletion_tombstones']>;
export type TombstoneEntityType = Column<'deletion_tombstones', 'entity_type'>;

export type Priority = Column<'task_instances', 'priority'>;
export type CompletedBy = Column<'task_instances', 'completed_by'>;
export type SubtaskSource = Column<'subtasks', 'source'>;
export type ReminderType = Column<'reminders', 'type'>;
export type ReminderMethod = Column<'reminders', 'method'>;
export type NotificationType = Column<'notifications', 'type'>;
export type TaskTemplateRow = Selectable<DB['task_templates']>;
export type NewTaskTemplate = Insertable<DB['task_templates']>;
export type TaskTemplateUpdate = Updateable<DB['task_templates']>;
export type TaskRow = Selectable<DB['task_instances']>;
export type NewTask = Insertable<DB['task_instances']>;
export type TaskUpdate = Updateable<DB['task_instances']>;
export type SubtaskRow = Selectable<DB['subtasks']>;
export type NewSubtask = Insertable<DB['subtasks']>;
export type ReminderRow = Selectable<DB['reminders']>;
export type NewReminder = Insertable<DB['reminders']>;
export type NotificationRow = Selectable<DB['notifications']>;

export type TranscriptionStatus = Column<'notes', 'transcription_status'>;
export type CreditKind = Column<'credit_lots', 'kind'>;
export type CreditEntryType = Column<'ai_credit_ledger', 'type'>;
export type CreditCategory = Column<'ai_credit_ledger', 'category'>;
export type VoiceSessionStatus = Column<'voice_sessions', 'status'>;
export type VoiceEndReason = Column<'voice_sessions', 'end_reason'>;
export type NoteRow = Selectable<DB['notes']>;
export type NewNote = Insertable<DB['notes']>;
export type CreditLotRow = Selectable<DB['credit_lots']>;
export type CreditEntryRow = Selectable<DB['ai_credit_ledger']>;
export type VoiceSessionRow = Selectable<DB['voice_sessions']>;

export type SubscriptionStatus = Column<'subscriptions', 'status'>;
export type AppliedPaymentKind = Column<'applied_payments', 'kind'>;
export type CreditPurchaseStatus = Column<'credit_purchases', 'status'>;
export type AchievementCategory = Column<'achievement_definitions', 'category'>;
export type PerkType = Column<'achievement_definitions', 'perk_type'>;
export type SubscriptionRow = Selectable<DB['subscriptions']>;
export type NewSubscription = Insertable<DB['subscriptions']>;
export type CreditPurchaseRow = Selectable<DB['credit_purchases']>;
export type PushSubscriptionRow = Selectable<DB['push_subscriptions']>;
export type WebhookRow = Selectable<DB['webhooks']>;
export type WebhookDeliveryRow = Selectable<DB['webhook_deliveries']>;
export type AchievementDefinitionRow = Selectable<DB['achievement_definitions']>;
export type FocusSessionRow = Selectable<DB['focus_sessions']>;
export type UserAchievementStateRow = Selectable<DB['user_achievement_states']>;

export type CalendarFeedRow = Selectable<DB['calendar_feeds']>;
export type SyncEntityType = Column<'sync_changes', 'entity_type'>;
export type SyncChangeRow = Selectable<DB['sync_changes']>;
export type SearchDocumentRow = Selectable<DB['search_documents']>;
export type DeletionSource = Column<'account_deletions', 'source'>;
export type AccountDeletionRow = Selectable<DB['account_deletions']>;
