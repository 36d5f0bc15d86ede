-- Every API process keeps the sessions it has recently seen live, so the per-request "is the token's
-- session still live" check costs no query (src/domain/auth/live-sessions.ts). A session (refresh
-- token family) ends when a live refresh token is revoked for any reason but rotation (logout, a
-- reuse after the grace, a newer sign-in) or deleted (with its account, or by hand): each tells
-- every listening process at commit. Rotation hands the session to the new token and ends nothing.
create function notify_session_ended() returns trigger
  language plpgsql as $$
begin
  perform pg_notify('session_ended', old.family_id::text);
  return null;
end $$;

create trigger refresh_tokens_notify_revoked after update of revoked_at on refresh_tokens
  for each row when (old.revoked_at is null and new.revoked_at is not null and new.revoked_reason is distinct from 'rotated')
  execute function notify_session_ended();

create trigger refresh_tokens_notify_deleted after delete on refresh_tokens
  for each row when (old.revoked_at is null)
  execute function notify_session_ended();
