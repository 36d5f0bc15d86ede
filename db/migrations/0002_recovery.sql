-- Tombstones of deleted tasks and notes (FR-062–FR-064): a snapshot that restores the entity with
-- its original id and timestamps. Only the newest three per user are kept.

create table deletion_tombstones (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null references users (id) on delete cascade,
  entity_type text not null check (entity_type in ('task', 'note')),
  entity_id uuid not null,
  title text not null,
  snapshot jsonb not null,
  deleted_at timestamptz not null default now(),
  recoverable_until timestamptz not null,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create index deletion_tombstones_user_idx on deletion_tombstones (user_id, deleted_at desc, id desc);
