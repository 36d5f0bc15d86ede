import { z } from 'zod';

// The production frontend's zod schemas, rebuilt from ../shared/reference/frontend-contract.md §2–§3
// (the frontend pins zod 4.3.5; zod 4 is installed here). They mirror what the frontend parses, not
// what our contract promises: `.nullable()` keys must be present, `.default()` keys may be missing
// but never null, datetimes must end in `Z`, uuids must have an RFC 9562 version and variant.
// Unknown keys are stripped, as in the frontend, so extra fields are fine.

const datetime = z.string().datetime();
const uuid = z.string().uuid();
const count = z.number().int().min(0);

// ---------------------------------------------------------------- envelopes (§1.4)

/** `{data: T}`: every single object and action result outside `/auth/*`. */
export const dataOf = <T extends z.ZodType>(item: T) => z.object({ data: item });
/** `{data: T[]}`: the hooks' lists (pagination ignored if present). */
export const listOf = <T extends z.ZodType>(item: T) => z.object({ data: z.array(item) });

/** `PaginationMetaSchema` (§3.8): all four keys required, `limit` 1..100. */
export const PaginationMetaSchema = z.object({
  offset: count,
  limit: z.number().int().min(1).max(100),
  total: count,
  has_more: z.boolean(),
});
/** `{data: T[], pagination}` with pagination required: `tasksService.listTasks` and `/credits/history`. */
export const paginatedListOf = <T extends z.ZodType>(item: T) => z.object({ data: z.array(item), pagination: PaginationMetaSchema });

/** What the client accepts where it has no schema: any JSON (it still calls `response.json()`). */
export const AnyJson = z.unknown();

// ---------------------------------------------------------------- tasks, subtasks, reminders (§3.1–3.3)

export const TaskSchema = z.object({
  id: uuid,
  user_id: uuid,
  template_id: uuid.nullable(),
  title: z.string().min(1).max(500),
  description: z.string().max(5000).default(''),
  priority: z.enum(['low', 'medium', 'high']).default('medium'),
  due_date: datetime.nullable(),
  estimated_duration: z.number().int().min(1).max(720).nullable(),
  focus_time_seconds: count.default(0),
  completed: z.boolean().default(false),
  completed_at: datetime.nullable(),
  completed_by: z.enum(['manual', 'auto', 'force']).nullable(),
  hidden: z.boolean().default(false),
  archived: z.boolean().default(false),
  subtask_count: count.default(0),
  subtask_completed_count: count.default(0),
  created_at: datetime,
  updated_at: datetime,
  version: z.number().int(),
});

export const SubtaskSchema = z.object({
  id: uuid,
  task_id: uuid,
  title: z.string().min(1).max(200),
  completed: z.boolean().default(false),
  completed_at: datetime.nullable(),
  order_index: count,
  source: z.enum(['user', 'ai']).default('user'),
  created_at: datetime,
  updated_at: datetime,
});

export const ReminderSchema = z.object({
  id: uuid,
  task_id: uuid,
  user_id: uuid,
  type: z.enum(['before', 'after', 'absolute']),
  // No minimum: the UI sends negative offsets.
  offset_minutes: z.number().int().nullable(),
  method: z.enum(['push', 'in_app']).default('in_app'),
  scheduled_at: datetime,
  fired: z.boolean().default(false),
  fired_at: datetime.nullable(),
  created_at: datetime,
  updated_at: datetime,
});

/** `tasksService.getTask`: the task with its full nested subtasks and reminders. */
export const TaskDetailSchema = TaskSchema.extend({
  subtasks: z.array(SubtaskSchema).default([]),
  reminders: z.array(ReminderSchema).default([]),
});

export const TombstoneSchema = z.object({ tombstone_id: uuid, recoverable_until: datetime });

// ---------------------------------------------------------------- notes, users, auth (§3.4–3.6)

export const NoteSchema = z.object({
  id: uuid,
  user_id: uuid,
  content: z.string().min(1).max(2000),
  archived: z.boolean().default(false),
  voice_url: z.string().nullable(),
  voice_duration_seconds: z.number().int().min(1).max(300).nullable(),
  transcription_status: z.enum(['pending', 'completed', 'failed']).nullable(),
  created_at: datetime,
  updated_at: datetime,
});

export const UserSchema = z.object({
  id: uuid,
  google_id: z.string(),
  email: z.string().email(),
  name: z.string().min(1).max(100),
  avatar_url: z.string().nullable(),
  timezone: z.string().default('UTC'),
  tier: z.enum(['free', 'pro']).default('free'),
  created_at: datetime.optional(),
  updated_at: datetime.optional(),
});

const tokenFields = {
  access_token: z.string(),
  refresh_token: z.string(),
  token_type: z.string(),
  expires_in: z.number().int().positive(),
};

/** Bare, no `data` wrapper. */
export const GoogleAuthResponseSchema = z.object({
  ...tokenFields,
  user: z.object({
    id: uuid,
    email: z.string().email(),
    name: z.string().min(1).max(100),
    avatar_url: z.string().nullable(),
    tier: z.enum(['free', 'pro']).default('free'),
    created_at: datetime.optional(),
  }),
});

/** Bare; the four token fields, no user. */
export const RefreshTokenResponseSchema = z.object(tokenFields);

// ---------------------------------------------------------------- achievements (§3.7)

const perkType = z.enum(['max_tasks', 'max_notes', 'daily_credits']);

export const AchievementDefinitionSchema = z.object({
  id: z.string(),
  name: z.string(),
  message: z.string(),
  category: z.enum(['tasks', 'streaks', 'focus', 'notes']),
  threshold: z.number().int().min(1),
  perk_type: perkType.nullable(),
  perk_value: z.number().int().min(1).nullable(),
});

export const AchievementDataSchema = z.object({
  stats: z.object({
    lifetime_tasks_completed: count.default(0),
    current_streak: count.default(0),
    longest_streak: count.default(0),
    focus_completions: count.default(0),
    notes_converted: count.default(0),
  }),
  unlocked: z.array(z.string()),
  progress: z.array(z.object({ id: z.string(), name: z.string(), current: count, threshold: z.number().int().min(1), unlocked: z.boolean() })),
  effective_limits: z.object({ max_tasks: count, max_notes: count, daily_ai_credits: count }),
});

export const AchievementUnlockSchema = z.object({
  achievement_id: z.string(),
  achievement_name: z.string(),
  perk: z.object({ type: perkType, value: z.number().int().min(1) }).nullable(),
});

/** `POST /tasks/{id}/force-complete` (inside `data`). */
export const ForceCompleteResultSchema = z.object({
  task: TaskSchema,
  unlocked_achievements: z.array(AchievementUnlockSchema),
  streak: count,
});

// ---------------------------------------------------------------- credits (§3.8)

export const CreditBalanceSchema = z.object({
  kickstart: count.default(0),
  daily: count.default(0),
  subscription: count.default(0),
  purchased: count.default(0),
  total: count.default(0),
});

export const CreditTransactionSchema = z.object({
  id: uuid,
  user_id: uuid,
  type: z.enum(['grant', 'deduct']),
  category: z.enum(['daily', 'subscription', 'purchase', 'ai', 'kickstart']),
  amount: z.number().int(),
  balance_after: count,
  description: z.string(),
  created_at: datetime,
});

// ---------------------------------------------------------------- AI (§3.9; every response is `{data}`)

export const ChatResponseSchema = z.object({
  response: z.string(),
  suggested_actions: z.array(
    z.object({
      type: z.enum(['complete_task', 'create_subtasks', 'update_task']),
      task_id: uuid.optional(),
      description: z.string(),
      data: z.record(z.string(), z.unknown()),
    }),
  ),
  credits_used: count,
  credits_remaining: count,
  ai_request_warning: z.boolean(),
});

export const GenerateSubtasksResponseSchema = z.object({
  suggested_subtasks: z.array(z.object({ title: z.string().min(1).max(200) })),
  credits_used: count,
  credits_remaining: count,
});

export const TranscriptionResponseSchema = z.object({
  transcription: z.string(),
  language: z.string(),
  confidence: z.number().min(0).max(1),
  credits_used: count,
  credits_remaining: count,
});

export const ConfirmActionResponseSchema = z.record(z.string(), z.unknown());

export const AICreditsBalanceSchema = z.object({
  balance: z.object({ daily_free: count, subscription: count, purchased: count, total: count }),
  daily_reset_at: datetime,
  tier: z.enum(['free', 'pro']),
});

// ---------------------------------------------------------------- notifications (§3.10)

/** Needs `message` (not `body`); no `type` (stripped). */
export const NotificationSchema = z.object({
  id: uuid,
  user_id: uuid,
  title: z.string(),
  message: z.string(),
  read: z.boolean().default(false),
  task_id: z.string().nullable(),
  created_at: datetime,
  updated_at: datetime,
});

// ---------------------------------------------------------------- subscription (§3.11)

const subscriptionStatus = z.enum(['active', 'past_due', 'grace', 'cancelled', 'expired']);

export const SubscriptionResponseSchema = z.object({
  tier: z.enum(['free', 'pro']),
  status: subscriptionStatus.nullable(),
  current_period_end: datetime.nullable(),
  cancel_at_period_end: z.boolean().default(false),
  features: z.object({
    max_subtasks: z.number().int().min(1),
    max_description_length: z.number().int().min(1),
    voice_notes: z.boolean(),
    monthly_credits: count,
  }),
});

export const CancelSubscriptionResponseSchema = z.object({ status: subscriptionStatus, access_until: datetime });

/** The schema local to `useCredits.ts` that the credits page parses. */
export const PurchaseCreditsResponseSchema = z.object({ success: z.boolean(), credits_purchased: z.number(), new_balance: z.number() });

// ---------------------------------------------------------------- activity (§3.12; unused hook)

export const ActivityLogSchema = z.object({
  id: uuid,
  user_id: uuid,
  entity_type: z.enum(['task', 'subtask', 'note', 'reminder', 'subscription', 'achievement', 'ai_chat']),
  entity_id: uuid,
  action: z.string(),
  source: z.enum(['user', 'ai', 'system']),
  extra_data: z.record(z.string(), z.unknown()).default({}),
  request_id: uuid.nullable(),
  created_at: datetime,
});

// ---------------------------------------------------------------- focus sessions (§3.12; unused hooks)

export const FocusSessionSchema = z.object({
  id: uuid,
  user_id: uuid,
  task_id: uuid,
  started_at: datetime,
  ended_at: datetime.nullable(),
  duration_seconds: z.number().int().min(0).nullable(),
  created_at: datetime,
  updated_at: datetime,
});
