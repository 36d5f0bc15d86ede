-- One live transcription session at a time per user (review finding 2). The relay refuses a second
-- one; this index makes the refusal hold across processes and concurrent upgrades.

-- Rows left 'active' by an earlier version (a process that stopped without settling them) would
-- block the index: keep each user's newest, close the others as the cleanup job closes abandoned
-- sessions (failed, no end reason).
update voice_sessions v
set status = 'failed', ended_at = now(), updated_at = now()
where v.status = 'active'
  and exists (
    select 1 from voice_sessions n
    where n.user_id = v.user_id and n.status = 'active' and (n.started_at, n.id) > (v.started_at, v.id)
  );

create unique index voice_sessions_one_active_key on voice_sessions (user_id) where status = 'active';
