-- Offline writes (issue 19, POST /sync): each command a client sends is applied once per user and
-- uuid; its result is kept so a replayed batch answers the same without applying anything again.
-- Written in the transaction of the command's change (a failed command's result in its own), kept
-- 30 days (jobs/tasks/cleanup.ts).
create table sync_commands (
  user_id uuid not null references users (id) on delete cascade,
  uuid uuid not null,
  type text not null,
  -- sha-256 of the command as sent (type, temp_id, id, args): a reused uuid with other content is refused
  fingerprint text not null,
  temp_id text,
  -- the entity the command created or acted on, when it succeeded
  entity_id uuid,
  http_status integer not null,
  -- the `error` object of a failed command, as answered the first time
  error jsonb,
  created_at timestamptz not null default now(),
  primary key (user_id, uuid)
);
create index sync_commands_created_idx on sync_commands (created_at);
