-- Delta sync's change log (0010) written once per statement instead of once per row (issue 18).
--
-- 100 000 reminders falling due at one instant are fired 200 to a statement: each statement
-- marks 200 reminders fired and inserts 200 notifications, and a row trigger ran a PL/pgSQL call,
-- a users lookup, an insert into sync_changes and a pg_notify for each row. In the worker's batch
-- the row triggers were about two thirds of an insert of notifications (2 000 rows: 130 ms with
-- them, 40 ms with none, 60-70 ms with these). A statement trigger sees the statement's rows as a
-- transition table and records them with one INSERT … SELECT; the change log and its order within
-- a transaction are what the row triggers wrote (rows in the order the statement wrote them).
--
-- Unchanged: a task's deletion (a BEFORE row trigger: it must name the owner before a cascade
-- removes its subtasks) and subtasks (their owner is their task's, looked up per row).

-- Records every row of the statement's transition table `changed_rows`, unless its owner no longer
-- exists (the account itself is being deleted), as sync_record does for one row.
create function sync_track_owned_rows() returns trigger
language plpgsql as $$
begin
  insert into sync_changes (user_id, entity_type, entity_id, deleted)
  select r.user_id, tg_argv[0], r.id, tg_op = 'DELETE'
    from changed_rows r
   where exists (select 1 from users u where u.id = r.user_id);
  return null;
end $$;

drop trigger sync_task_write on task_instances;
create trigger sync_task_insert after insert on task_instances
  referencing new table as changed_rows for each statement execute function sync_track_owned_rows('task');
create trigger sync_task_update after update on task_instances
  referencing new table as changed_rows for each statement execute function sync_track_owned_rows('task');

drop trigger sync_reminder_write on reminders;
create trigger sync_reminder_insert after insert on reminders
  referencing new table as changed_rows for each statement execute function sync_track_owned_rows('reminder');
create trigger sync_reminder_update after update on reminders
  referencing new table as changed_rows for each statement execute function sync_track_owned_rows('reminder');
create trigger sync_reminder_delete after delete on reminders
  referencing old table as changed_rows for each statement execute function sync_track_owned_rows('reminder');

drop trigger sync_note_write on notes;
create trigger sync_note_insert after insert on notes
  referencing new table as changed_rows for each statement execute function sync_track_owned_rows('note');
create trigger sync_note_update after update on notes
  referencing new table as changed_rows for each statement execute function sync_track_owned_rows('note');
create trigger sync_note_delete after delete on notes
  referencing old table as changed_rows for each statement execute function sync_track_owned_rows('note');

drop trigger sync_notification_write on notifications;
create trigger sync_notification_insert after insert on notifications
  referencing new table as changed_rows for each statement execute function sync_track_owned_rows('notification');
create trigger sync_notification_update after update on notifications
  referencing new table as changed_rows for each statement execute function sync_track_owned_rows('notification');
create trigger sync_notification_delete after delete on notifications
  referencing old table as changed_rows for each statement execute function sync_track_owned_rows('notification');

-- The live-update signal (0022) once per user per statement instead of once per row: PostgreSQL
-- already delivers one per user per transaction, so listeners see no difference.
create function notify_sync_changed_users() returns trigger
language plpgsql as $$
begin
  perform pg_notify('sync_changed', d.user_id::text) from (select distinct user_id from added_changes) d;
  return null;
end $$;

drop trigger sync_changes_notify on sync_changes;
create trigger sync_changes_notify after insert on sync_changes
  referencing new table as added_changes for each statement execute function notify_sync_changed_users();
drop function notify_sync_changed();
