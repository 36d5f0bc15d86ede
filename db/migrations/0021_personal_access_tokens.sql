-- Personal access tokens (issue #19 item 3): Bearer credentials for scripts, integrations and the
-- user's AI assistant, limited to scopes. Only the SHA-256 of the secret is stored (it has 256
-- random bits, so a fast hash is enough) and a token is found by that hash, so no secret byte is
-- compared. Deleting a row revokes the token; a trigger tells every API process at commit
-- (src/domain/auth/personal-tokens.ts, the `personal_token_revoked` channel of live-keys.ts), as for
-- ended sessions (0017). Forward-only: never edit a migration that has shipped.

create table personal_access_tokens (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null references users (id) on delete cascade,
  name text not null check (char_length(name) between 1 and 100),
  scopes text[] not null check (cardinality(scopes) between 1 and 20),
  token_hash text not null unique,
  expires_at timestamptz,
  created_at timestamptz not null default now(),
  -- the last request made with the token (written at most once a minute)
  last_used_at timestamptz
);

create index personal_access_tokens_user_created on personal_access_tokens (user_id, created_at desc);

create function notify_personal_token_revoked() returns trigger
  language plpgsql as $$
begin
  perform pg_notify('personal_token_revoked', old.id::text);
  return null;
end $$;

create trigger personal_access_tokens_notify_deleted after delete on personal_access_tokens
  for each row execute function notify_personal_token_revoked();
