-- Issue 19 item 4: outgoing webhooks. A user's endpoints (at most 10, counted under the
-- 'webhooks' advisory lock) and one delivery row per (event, endpoint), written in the transaction
-- of the change that raised the event, beside the graphile-worker job that sends it.
create table webhooks (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null references users (id) on delete cascade,
  url text not null check (url ~ '^https://' and length(url) <= 2048),
  events text[] not null check (cardinality(events) between 1 and 20),
  description text check (length(description) <= 200),
  -- The signing secret as generated (whsec_…): the worker must compute HMACs with it, so it cannot
  -- be hashed. Never logged, never answered after the create (docs/SECURITY.md, decision 0006).
  secret text not null,
  enabled boolean not null default true,
  disabled_at timestamptz,
  disabled_reason text check (disabled_reason in ('failures')),
  -- Failed attempts since the last success, and when that run of failures began.
  consecutive_failures integer not null default 0 check (consecutive_failures >= 0),
  failing_since timestamptz,
  last_success_at timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create index webhooks_user_idx on webhooks (user_id, created_at, id);

create table webhook_deliveries (
  id uuid primary key default gen_random_uuid(),
  webhook_id uuid not null references webhooks (id) on delete cascade,
  -- The event's id (Perpetua-Event-Id): the same on every attempt, and on every endpoint the event went to.
  event_id uuid not null,
  event_type text not null,
  -- The exact body sent, kept so every attempt sends (and signs) the same bytes.
  payload text not null,
  status text not null default 'pending' check (status in ('pending', 'succeeded', 'failed')),
  attempts integer not null default 0 check (attempts >= 0),
  next_attempt_at timestamptz,
  last_attempt_at timestamptz,
  response_status integer,
  -- At most 256 characters of the receiver's answer (or of the failure), never more.
  response_excerpt text check (length(response_excerpt) <= 256),
  delivered_at timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  unique (webhook_id, event_id)
);
create index webhook_deliveries_list_idx on webhook_deliveries (webhook_id, created_at desc, id desc);
-- The cleanup job deletes finished deliveries after 30 days.
create index webhook_deliveries_created_idx on webhook_deliveries (created_at);
