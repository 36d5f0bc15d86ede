-- Account deletion (issue #8): DELETE /users/me removes every row of the user (all tables reference
-- users with ON DELETE CASCADE; webhook_events keep the Checkout event id with user_id set null).
-- What stays is this audit entry. It deliberately holds no user id, email, name or Google id, nor
-- anything else that could be joined back to a person: a deleted account must be gone (GDPR art.
-- 17), while operators can still see that, when and how a deletion happened and what it removed.
create table account_deletions (
  id uuid primary key default gen_random_uuid(),
  deleted_at timestamptz not null,
  -- who asked: the user through the API (the only source today)
  source text not null check (source in ('user_request')),
  -- the subscription status at deletion ('none' when the user never subscribed): a non-expired one
  -- was cancelled by the deletion, so no renewal is charged
  subscription_status text not null check (subscription_status in ('none', 'active', 'past_due', 'grace', 'cancelled', 'expired')),
  -- rows deleted per kind of data, e.g. {"tasks": 12, "notes": 3}
  counts jsonb not null,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create index account_deletions_deleted_at_idx on account_deletions (deleted_at);
