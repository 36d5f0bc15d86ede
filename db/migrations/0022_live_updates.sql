-- Live updates (issue #19, GET /events): server-sent events of the changes GET /sync hands out.
--
-- 1. Every recorded change tells the listening API processes whose changes moved, at commit: the
--    payload is the user id only (PostgreSQL delivers one notification per user per transaction,
--    however many rows it changed). A stream then reads its changes after its cursor with the same
--    commit-safe query as GET /sync (src/domain/sync/sync-changes.ts). Writes by the worker, by any
--    API process or by hand all go through the sync_changes triggers of 0010, so none is missed.
create function notify_sync_changed() returns trigger
  language plpgsql as $$
begin
  perform pg_notify('sync_changed', new.user_id::text);
  return null;
end $$;

create trigger sync_changes_notify after insert on sync_changes
  for each row execute function notify_sync_changed();

-- 2. One-use tickets for EventSource, which cannot send an Authorization header: POST /events/ticket
--    stores the SHA-256 (hex) of a random secret; GET /events?ticket= deletes the row it names (DELETE …
--    RETURNING: one use, whichever process redeems it). Unredeemed tickets are deleted when they
--    are an hour past their expiry (by the next ticket of any user) or with their account.
create table event_tickets (
  token_hash text primary key,
  user_id uuid not null references users (id) on delete cascade,
  -- the session (refresh-token family) of the access token that asked for it: the stream ends with it
  session_id uuid not null,
  email text not null,
  tier text not null check (tier in ('free', 'pro')),
  expires_at timestamptz not null,
  created_at timestamptz not null default now()
);
create index event_tickets_expires_idx on event_tickets (expires_at);
create index event_tickets_user_idx on event_tickets (user_id);

-- 3. The open streams, counted per user across every API process (at most 10; the 11th closes the
--    oldest). A process renews the lease of its streams while they are open and deletes each row
--    when its stream ends; the rows of a process that died expire with their lease.
create table event_streams (
  id uuid primary key,
  user_id uuid not null references users (id) on delete cascade,
  opened_at timestamptz not null default clock_timestamp(),
  lease_until timestamptz not null
);
create index event_streams_user_idx on event_streams (user_id, opened_at);
