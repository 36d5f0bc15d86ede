-- Notes, the AI credit ledger, per-task AI counters and voice sessions (issue #4).

create table notes (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null references users (id) on delete cascade,
  content text not null check (char_length(content) between 1 and 2000),
  archived boolean not null default false,
  voice_url text check (char_length(voice_url) <= 2048),
  voice_duration_seconds integer check (voice_duration_seconds between 1 and 300),
  transcription_status text check (transcription_status in ('pending', 'completed', 'failed')),
  -- the first successful AI conversion: each note counts once toward the notes_10 achievement
  converted_at timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint notes_voice_fields_together check ((voice_url is null) = (voice_duration_seconds is null))
);
-- GET /notes (newest first, optionally by archived) and the active-note count under the limit
create index notes_user_created_idx on notes (user_id, created_at desc, id desc);
create index notes_user_active_idx on notes (user_id) where not archived;

-- What a user can spend: one lot per grant, drawn down by charges and expiries. A lot past its
-- expires_at is no longer spendable even before its expiry entry is written.
create table credit_lots (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null references users (id) on delete cascade,
  kind text not null check (kind in ('kickstart', 'daily', 'subscription', 'purchased')),
  amount integer not null check (amount > 0),
  remaining integer not null check (remaining >= 0 and remaining <= amount),
  expires_at timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create index credit_lots_spendable_idx on credit_lots (user_id, created_at, id) where remaining > 0;
-- kickstart credits are granted once per account, ever
create unique index credit_lots_one_kickstart_key on credit_lots (user_id) where kind = 'kickstart';

-- The history: every change of the balance, in the order it happened (seq), with the balance after it.
create table ai_credit_ledger (
  id uuid primary key default gen_random_uuid(),
  seq bigint generated always as identity,
  user_id uuid not null references users (id) on delete cascade,
  type text not null check (type in ('grant', 'deduct')),
  category text not null check (category in ('daily', 'subscription', 'purchase', 'ai', 'kickstart')),
  amount integer not null check (amount <> 0 and (type = 'grant') = (amount > 0)),
  balance_after integer not null check (balance_after >= 0),
  description text not null check (char_length(description) <= 200),
  operation_ref text not null check (char_length(operation_ref) between 1 and 200),
  -- the lot a grant created
  lot_id uuid references credit_lots (id) on delete set null,
  -- what a charge or an expiry took, lot by lot: [{lot_id, kind, amount}]
  allocations jsonb not null default '[]'::jsonb,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create index ai_credit_ledger_user_seq_idx on ai_credit_ledger (user_id, seq desc);
-- one grant or expiry per operation and kind: a job that runs twice cannot grant or expire twice.
-- (AI charges carry the request id, which the client may choose; its Idempotency-Key guards them.)
create unique index ai_credit_ledger_operation_key on ai_credit_ledger (user_id, type, category, operation_ref)
  where not (type = 'deduct' and category = 'ai');

-- FR-035: successful AI requests per task and session (the access token's sid). task_id has no
-- foreign key on purpose: deleting and recovering a task must not reset its quota.
create table ai_task_counters (
  user_id uuid not null references users (id) on delete cascade,
  session_id uuid not null,
  task_id uuid not null,
  count integer not null default 0 check (count >= 0),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  primary key (user_id, session_id, task_id)
);
create index ai_task_counters_updated_idx on ai_task_counters (updated_at);

-- One live transcription over /ws/voice/transcribe: what was relayed, transcribed and charged.
create table voice_sessions (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null references users (id) on delete cascade,
  status text not null default 'active' check (status in ('active', 'completed', 'failed')),
  end_reason text check (end_reason in ('end_stream', 'disconnected', 'max_duration', 'insufficient_credits', 'provider_failed', 'server_shutdown')),
  transcript text not null default '',
  duration_seconds double precision not null default 0 check (duration_seconds >= 0),
  credits_used integer not null default 0 check (credits_used >= 0),
  started_at timestamptz not null default now(),
  ended_at timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  check ((status = 'active') = (ended_at is null))
);
create index voice_sessions_user_idx on voice_sessions (user_id, started_at desc);
