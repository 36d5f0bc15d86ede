import type { Generated, Insertable, Selectable } from 'kysely';
import type { CreatedAt, Timestamp } from './columns.js';

// Tables of db/migrations/0006_billing.sql (issue #5): subscriptions, Checkout.com events, credit
// purchases, push subscriptions, achievements and focus sessions.

export type SubscriptionStatus = 'active' | 'past_due' | 'grace' | 'cancelled' | 'expired';

export interface SubscriptionsTable {
  id: Generated<string>;
  user_id: string;
  status: SubscriptionStatus;
  current_period_start: Timestamp;
  current_period_end: Timestamp;
  failed_payment_count: Generated<number>;
  grace_period_end: Timestamp | null;
  cancelled_at: Timestamp | null;
  access_until: Timestamp | null;
  checkout_source_id: string | null;
  checkout_customer_id: string | null;
  last_payment_at: Timestamp | null;
  last_charge_attempt_at: Timestamp | null;
  /** 0008: when the renewal attempt in progress counts as failed if Checkout.com has not answered it. */
  charge_outcome_due_at: Timestamp | null;
  created_at: CreatedAt;
  updated_at: Timestamp;
}

export interface WebhookEventsTable {
  id: Generated<string>;
  event_id: string;
  type: string;
  user_id: string | null;
  processed: boolean;
  created_at: CreatedAt;
  updated_at: Timestamp;
}

export type AppliedPaymentKind = 'captured' | 'refunded' | 'declined';

/** 0017: a Checkout.com payment (and outcome) applied once, whatever event id delivered it. */
export interface AppliedPaymentsTable {
  id: Generated<string>;
  payment_id: string;
  kind: AppliedPaymentKind;
  user_id: string;
  event_id: string | null;
  created_at: CreatedAt;
  updated_at: Generated<Timestamp>;
}

export type CreditPurchaseStatus = 'pending' | 'completed' | 'failed';

export interface CreditPurchasesTable {
  id: Generated<string>;
  user_id: string;
  amount: number;
  price_minor: number;
  currency: string;
  status: CreditPurchaseStatus;
  request_key: string;
  checkout_payment_id: string | null;
  checkout_session_id: string | null;
  checkout_url: string | null;
  pending_until: Timestamp;
  completed_at: Timestamp | null;
  created_at: CreatedAt;
  updated_at: Timestamp;
}

export interface PushSubscriptionsTable {
  id: Generated<string>;
  user_id: string;
  endpoint: string;
  p256dh_key: string;
  auth_key: string;
  last_delivered_at: Timestamp | null;
  created_at: CreatedAt;
  updated_at: Timestamp;
}

export type AchievementCategory = 'tasks' | 'streaks' | 'focus' | 'notes';
export type PerkType = 'max_tasks' | 'max_notes' | 'daily_credits';

export interface AchievementDefinitionsTable {
  id: string;
  name: string;
  description: string;
  category: AchievementCategory;
  threshold: number;
  perk_type: PerkType | null;
  perk_value: number | null;
  sort_order: number;
  created_at: CreatedAt;
  updated_at: Timestamp;
}

export interface UserAchievementStatesTable {
  user_id: string;
  lifetime_tasks_completed: Generated<number>;
  current_streak: Generated<number>;
  longest_streak: Generated<number>;
  /**
   * A UTC day. pg turns a `date` into a Date at local midnight, so select it as text
   * (sql`last_completion_date::text`), never through selectAll.
   */
  last_completion_date: string | null;
  focus_completions: Generated<number>;
  notes_converted: Generated<number>;
  created_at: CreatedAt;
  updated_at: Timestamp;
}

export interface UserAchievementsTable {
  user_id: string;
  achievement_id: string;
  unlocked_at: Generated<Date>;
  created_at: CreatedAt;
  updated_at: Timestamp;
}

export interface AchievementTaskCompletionsTable {
  user_id: string;
  task_id: string;
  completed_at: Timestamp;
  /** A UTC day; select it as text (see last_completion_date). */
  completed_day: string;
  focus_completion: boolean;
  created_at: CreatedAt;
  updated_at: Timestamp;
}

export interface AchievementNoteConversionsTable {
  user_id: string;
  note_id: string;
  converted_at: Timestamp;
  created_at: CreatedAt;
  updated_at: Timestamp;
}

export interface FocusSessionsTable {
  id: Generated<string>;
  user_id: string;
  task_id: string;
  started_at: Timestamp;
  ended_at: Timestamp | null;
  duration_seconds: number | null;
  created_at: CreatedAt;
  updated_at: Timestamp;
}

export interface BillingTables {
  subscriptions: SubscriptionsTable;
  webhook_events: WebhookEventsTable;
  applied_payments: AppliedPaymentsTable;
  credit_purchases: CreditPurchasesTable;
  push_subscriptions: PushSubscriptionsTable;
  achievement_definitions: AchievementDefinitionsTable;
  user_achievement_states: UserAchievementStatesTable;
  user_achievements: UserAchievementsTable;
  achievement_task_completions: AchievementTaskCompletionsTable;
  achievement_note_conversions: AchievementNoteConversionsTable;
  focus_sessions: FocusSessionsTable;
}

export type SubscriptionRow = Selectable<SubscriptionsTable>;
export type NewSubscription = Insertable<SubscriptionsTable>;
export type CreditPurchaseRow = Selectable<CreditPurchasesTable>;
export type PushSubscriptionRow = Selectable<PushSubscriptionsTable>;
export type AchievementDefinitionRow = Selectable<AchievementDefinitionsTable>;
export type FocusSessionRow = Selectable<FocusSessionsTable>;
export type UserAchievementStateRow = Selectable<UserAchievementStatesTable>;
