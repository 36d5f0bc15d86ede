-- Platform tables: users and their sessions, idempotency keys, the activity log, worker heartbeats,
-- and the shared rate-limit store. Forward-only: never edit a migration that has shipped.

create table users (
  id uuid primary key default gen_random_uuid(),
  google_id text not null unique,
  email text not null,
  name text not null check (char_length(name) between 1 and 100),
  -- set once the user renames themselves, so a later Google sign-in keeps their choice
  name_customized boolean not null default false,
  avatar_url text,
  timezone text not null default 'UTC',
  tier text not null default 'free' check (tier in ('free', 'pro')),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create unique index users_email_key on users (lower(email));

create table refresh_tokens (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null references users (id) on delete cascade,
  -- one family per sign-in; every rotation stays in it, so a reused token can revoke the session
  family_id uuid not null,
  token_hash text not null unique,
  expires_at timestamptz not null,
  revoked_at timestamptz,
  revoked_reason text check (revoked_reason in ('rotated', 'logout', 'reuse_detected', 'new_sign_in')),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create index refresh_tokens_user_active_idx on refresh_tokens (user_id) where revoked_at is null;
create index refresh_tokens_family_idx on refresh_tokens (family_id);
create index refresh_tokens_cleanup_idx on refresh_tokens (coalesce(revoked_at, expires_at));

create table idempotency_keys (
  user_id uuid not null references users (id) on delete cascade,
  key text not null,
  fingerprint text not null,
  method text not null,
  path text not null,
  state text not null check (state in ('in_flight', 'completed')),
  response_status integer,
  response_body jsonb,
  response_headers jsonb,
  -- while in flight another request with the key gets 409; past this instant a crashed attempt may be retried
  locked_until timestamptz,
  expires_at timestamptz not null,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  primary key (user_id, key)
);
create index idempotency_keys_expires_idx on idempotency_keys (expires_at);

create table activity_logs (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null references users (id) on delete cascade,
  entity_type text not null,
  entity_id uuid not null,
  action text not null,
  source text not null check (source in ('user', 'ai', 'system')),
  extra_data jsonb not null default '{}'::jsonb,
  request_id uuid,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create index activity_logs_user_created_idx on activity_logs (user_id, created_at desc, id desc);
create index activity_logs_entity_idx on activity_logs (user_id, entity_type, entity_id);
create index activity_logs_created_idx on activity_logs (created_at);

create table worker_heartbeats (
  worker_id text primary key,
  hostname text not null,
  pid integer not null,
  started_at timestamptz not null default now(),
  beat_at timestamptz not null default now(),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);

-- The PostgreSQL store of rate-limiter-flexible (RATE_LIMIT_STORE=postgres); its columns are the library's.
create table rate_limits (
  key varchar(255) primary key,
  points integer not null default 0,
  expire bigint
);
