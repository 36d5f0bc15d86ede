-- Every API process keeps the accounts it has recently seen, so the per-request "does the token's
-- account still exist" check costs no query (src/domain/users/live-accounts.ts). Any deletion of a
-- user row, by DELETE /users/me or by hand, tells every listening process at commit.
create function notify_account_deleted() returns trigger
  language plpgsql as $$
begin
  perform pg_notify('account_deleted', old.id::text);
  return null;
end $$;

create trigger users_notify_deleted after delete on users
  for each row execute function notify_account_deleted();
