-- Calendar feeds (issue #8): one secret iCalendar URL per user. Only the SHA-256 of the token is
-- stored, as for refresh tokens; rotating replaces the hash (the old URL stops at once) and revoking
-- deletes the row. Forward-only: never edit a migration that has shipped.

create table calendar_feeds (
  user_id uuid primary key references users (id) on delete cascade,
  token_hash text not null unique,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  -- the last time a calendar client fetched the feed (written at most once a minute)
  last_fetched_at timestamptz
);
