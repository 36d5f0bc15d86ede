-- Issue #5: Pro subscriptions and their Checkout.com events, credit purchases, Web Push
-- subscriptions, achievements with their per-user counters, and focus sessions.

-- One subscription per user, kept after it expires (its stored card pays for credit purchases and
-- a later checkout reactivates it). States: active → past_due → grace → expired; cancelled → expired.
create table subscriptions (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null unique references users (id) on delete cascade,
  status text not null check (status in ('active', 'past_due', 'grace', 'cancelled', 'expired')),
  current_period_start timestamptz not null,
  current_period_end timestamptz not null check (current_period_end > current_period_start),
  -- failed renewal charges since the last successful payment; the 3rd starts the grace period
  failed_payment_count integer not null default 0 check (failed_payment_count >= 0),
  grace_period_end timestamptz,
  cancelled_at timestamptz,
  -- Pro ends at this instant for a cancelled subscription (the paid time or the grace period)
  access_until timestamptz,
  -- the card Checkout.com stored with the last captured payment (src_…), charged for renewals
  checkout_source_id text,
  checkout_customer_id text,
  last_payment_at timestamptz,
  -- the last renewal charge sent to Checkout.com; the hourly job never charges twice for one attempt
  last_charge_attempt_at timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  check ((status = 'grace') = (grace_period_end is not null)),
  check ((status = 'cancelled') = (access_until is not null))
);
-- The hourly subscription_check job looks only at subscriptions with something due.
create index subscriptions_renewal_due_idx on subscriptions (current_period_end) where status in ('active', 'past_due');
create index subscriptions_grace_due_idx on subscriptions (grace_period_end) where status = 'grace';
create index subscriptions_cancel_due_idx on subscriptions (access_until) where status = 'cancelled';

-- Checkout.com event ids, inserted in the transaction that applies the event: each is processed
-- exactly once, even when two deliveries of one event arrive at the same time.
create table webhook_events (
  id uuid primary key default gen_random_uuid(),
  event_id text not null unique,
  type text not null,
  user_id uuid references users (id) on delete set null,
  processed boolean not null,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);

-- Credit purchases: credits are granted only when Checkout.com confirms the payment. A pending
-- purchase holds its amount against the monthly limit until it is paid, fails or lapses.
create table credit_purchases (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null references users (id) on delete cascade,
  amount integer not null check (amount between 1 and 500),
  price_minor integer not null check (price_minor > 0),
  currency text not null check (currency ~ '^[A-Z]{3}$'),
  status text not null check (status in ('pending', 'completed', 'failed')),
  -- the Idempotency-Key of the request that created it: a retry reuses the purchase (and the charge)
  request_key text not null,
  checkout_payment_id text,
  checkout_session_id text,
  checkout_url text,
  pending_until timestamptz not null,
  completed_at timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  unique (user_id, request_key),
  check ((status = 'completed') = (completed_at is not null))
);
create index credit_purchases_user_month_idx on credit_purchases (user_id, created_at) where status <> 'failed';

-- Web Push subscriptions (the browser's PushSubscription). An endpoint belongs to one user and is
-- never taken over by another.
create table push_subscriptions (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null references users (id) on delete cascade,
  endpoint text not null unique check (endpoint ~ '^https://'),
  p256dh_key text not null,
  auth_key text not null,
  last_delivered_at timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create index push_subscriptions_user_idx on push_subscriptions (user_id);

-- The achievement catalogue (FR-043–FR-046). Ids are codes; perks are permanent.
create table achievement_definitions (
  id text primary key check (id ~ '^[a-z]+_[0-9]+$'),
  name text not null,
  description text not null,
  category text not null check (category in ('tasks', 'streaks', 'focus', 'notes')),
  threshold integer not null check (threshold >= 1),
  perk_type text check (perk_type in ('max_tasks', 'max_notes', 'daily_credits')),
  perk_value integer check (perk_value >= 1),
  sort_order integer not null unique,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  check ((perk_type is null) = (perk_value is null))
);
insert into achievement_definitions (id, name, description, category, threshold, perk_type, perk_value, sort_order) values
  ('tasks_5', 'Task Starter', 'Complete 5 tasks.', 'tasks', 5, 'max_tasks', 15, 1),
  ('tasks_25', 'Task Master', 'Complete 25 tasks.', 'tasks', 25, 'max_tasks', 25, 2),
  ('tasks_100', 'Centurion', 'Complete 100 tasks.', 'tasks', 100, 'max_tasks', 50, 3),
  ('streak_7', 'Week Warrior', 'Complete at least one task a day for 7 days in a row.', 'streaks', 7, 'daily_credits', 2, 4),
  ('streak_30', 'Monthly Master', 'Complete at least one task a day for 30 days in a row.', 'streaks', 30, 'daily_credits', 5, 5),
  ('focus_10', 'Focus Initiate', 'Complete 10 tasks with focus time of at least half their estimate.', 'focus', 10, 'max_notes', 5, 6),
  ('notes_10', 'Note Taker', 'Convert 10 notes into tasks.', 'notes', 10, 'max_notes', 5, 7);

-- The counters achievements compare against; one row per user, created on first use.
create table user_achievement_states (
  user_id uuid primary key references users (id) on delete cascade,
  lifetime_tasks_completed integer not null default 0 check (lifetime_tasks_completed >= 0),
  current_streak integer not null default 0 check (current_streak >= 0),
  longest_streak integer not null default 0 check (longest_streak >= current_streak),
  -- the UTC day of the newest counted completion
  last_completion_date date,
  focus_completions integer not null default 0 check (focus_completions >= 0),
  notes_converted integer not null default 0 check (notes_converted >= 0),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create index user_achievement_states_streak_idx on user_achievement_states (last_completion_date) where current_streak > 0;

-- Unlocked achievements, permanent (FR-044).
create table user_achievements (
  user_id uuid not null references users (id) on delete cascade,
  achievement_id text not null references achievement_definitions (id),
  unlocked_at timestamptz not null default now(),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  primary key (user_id, achievement_id)
);

-- Every task that counted toward the achievements, once per task: re-completing a task or
-- recovering a deleted one never counts again (no foreign key to the task, so a deleted and
-- recovered task still finds its row). The UTC days of these completions make the streak.
create table achievement_task_completions (
  user_id uuid not null references users (id) on delete cascade,
  task_id uuid not null,
  completed_at timestamptz not null,
  completed_day date not null,
  focus_completion boolean not null,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  primary key (user_id, task_id)
);
create index achievement_task_completions_day_idx on achievement_task_completions (user_id, completed_day);

-- Notes whose first successful conversion counted toward notes_10.
create table achievement_note_conversions (
  user_id uuid not null references users (id) on delete cascade,
  note_id uuid not null,
  converted_at timestamptz not null,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  primary key (user_id, note_id)
);

-- Focus sessions (FR-045): the server measures each one; at most one open session per user.
create table focus_sessions (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null references users (id) on delete cascade,
  task_id uuid not null references task_instances (id) on delete cascade,
  started_at timestamptz not null,
  ended_at timestamptz,
  duration_seconds integer check (duration_seconds between 0 and 14400),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  check ((ended_at is null) = (duration_seconds is null)),
  check (ended_at is null or ended_at >= started_at)
);
create unique index focus_sessions_one_open_key on focus_sessions (user_id) where ended_at is null;
create index focus_sessions_task_idx on focus_sessions (task_id);
