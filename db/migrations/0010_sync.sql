-- Delta sync (issue #8): every insert, update and delete of a user's tasks, subtasks, reminders,
-- notes and notifications is recorded here by triggers, so no write path can forget one.
--
-- Order for readers is (xid, seq), not seq alone: nextval() order is not commit order. A reader only
-- hands out changes whose transaction is older than the oldest one still running
-- (pg_snapshot_xmin(pg_current_snapshot())): that set is final, since every transaction below it
-- has ended and every later transaction gets a larger xid. See src/domain/sync/changes.ts.

create table sync_changes (
  seq bigint generated always as identity primary key,
  xid xid8 not null default pg_current_xact_id(),
  -- no foreign key: the deletions of an account's rows are recorded while the account goes away
  user_id uuid not null,
  entity_type text not null check (entity_type in ('task', 'subtask', 'reminder', 'note', 'notification')),
  entity_id uuid not null,
  deleted boolean not null,
  changed_at timestamptz not null default now()
);
create index sync_changes_user_position_idx on sync_changes (user_id, xid, seq);
-- the owner of a subtask whose task was deleted in the same statement (cascade)
create index sync_changes_entity_idx on sync_changes (entity_id, seq desc);

-- Records one change, unless the owner no longer exists (the account itself is being deleted).
create function sync_record(owner uuid, kind text, entity uuid, is_delete boolean) returns void
language plpgsql as $$
begin
  if owner is not null and exists (select 1 from users where id = owner) then
    insert into sync_changes (user_id, entity_type, entity_id, deleted) values (owner, kind, entity, is_delete);
  end if;
end $$;

create function sync_track_owned() returns trigger
language plpgsql as $$
begin
  if tg_op = 'DELETE' then
    perform sync_record(old.user_id, tg_argv[0], old.id, true);
    return old;
  end if;
  perform sync_record(new.user_id, tg_argv[0], new.id, false);
  return new;
end $$;

-- A subtask has no user column: its owner is its task's. When the task goes in the same statement
-- (ON DELETE CASCADE runs after the task row is gone), the task's own deletion, recorded by a
-- BEFORE trigger, still names the owner. The task is recorded too: its subtask counts changed.
create function sync_track_subtask() returns trigger
language plpgsql as $$
declare
  row_ subtasks;
  owner uuid;
begin
  row_ := case when tg_op = 'DELETE' then old else new end;
  select user_id into owner from task_instances where id = row_.task_id;
  if owner is null then
    select user_id into owner from sync_changes
     where entity_id = row_.task_id and entity_type = 'task' order by seq desc limit 1;
  end if;
  perform sync_record(owner, 'subtask', row_.id, tg_op = 'DELETE');
  if tg_op <> 'UPDATE' or old.completed is distinct from new.completed or old.task_id is distinct from new.task_id then
    perform sync_record(owner, 'task', row_.task_id, false);
  end if;
  return row_;
end $$;

create trigger sync_task_write after insert or update on task_instances
  for each row execute function sync_track_owned('task');
create trigger sync_task_delete before delete on task_instances
  for each row execute function sync_track_owned('task');
create trigger sync_subtask_write after insert or update or delete on subtasks
  for each row execute function sync_track_subtask();
create trigger sync_reminder_write after insert or update or delete on reminders
  for each row execute function sync_track_owned('reminder');
create trigger sync_note_write after insert or update or delete on notes
  for each row execute function sync_track_owned('note');
create trigger sync_notification_write after insert or update or delete on notifications
  for each row execute function sync_track_owned('notification');

-- An account that goes takes its change log with it (the cascade's own changes are not recorded:
-- sync_record sees the user gone).
create function sync_forget_user() returns trigger
language plpgsql as $$
begin
  delete from sync_changes where user_id = old.id;
  return old;
end $$;
create trigger sync_forget_user after delete on users
  for each row execute function sync_forget_user();
