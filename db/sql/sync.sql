-- The SQL the sync use cases send, statement by statement (parameters as $1…).
-- Written by tests/db/sql-snapshots.test.ts; do not edit. After a query change: UPDATE_SQL_SNAPSHOTS=1 npm test -- tests/db/sql-snapshots.test.ts

-- syncChanges: GET /sync (from the beginning)
start transaction isolation level repeatable read read only;
select pg_snapshot_xmin(pg_current_snapshot())::text as xmin, pg_snapshot_xmax(pg_current_snapshot())::text as xmax;
select "t".*, "c"."subtask_count", "c"."subtask_completed_count"
  from "task_instances" as "t"
  left join lateral (select count(*)::int as "subtask_count", (count(*) filter (where s.completed))::int as "subtask_completed_count" from "subtasks" as "s" where "s"."task_id" = "t"."id") as "c" on true
  where "t"."user_id" = $1 and "t"."id" > $2
  order by "t"."id"
  limit $3;
select "s".*
  from "subtasks" as "s"
  inner join "task_instances" as "t" on "t"."id" = "s"."task_id"
  where "t"."user_id" = $1 and "s"."id" > $2
  order by "s"."id"
  limit $3;
select *
  from "reminders"
  where "user_id" = $1 and "id" > $2
  order by "id"
  limit $3;
select *
  from "notes"
  where "user_id" = $1 and "id" > $2
  order by "id"
  limit $3;
select *
  from "notifications"
  where "user_id" = $1 and "id" > $2
  order by "id"
  limit $3;
select 1 as one
  from sync_changes
  where user_id = $1 and xid >= $2::xid8 and xid < $3::xid8
  limit 1;
commit;

-- syncChanges: GET /sync?cursor=…
start transaction isolation level repeatable read read only;
select pg_snapshot_xmin(pg_current_snapshot())::text as xmin, pg_snapshot_xmax(pg_current_snapshot())::text as xmax;
select "t".*, "c"."subtask_count", "c"."subtask_completed_count"
  from "task_instances" as "t"
  left join lateral (select count(*)::int as "subtask_count", (count(*) filter (where s.completed))::int as "subtask_completed_count" from "subtasks" as "s" where "s"."task_id" = "t"."id") as "c" on true
  where "t"."user_id" = $1 and "t"."id" > $2
  order by "t"."id"
  limit $3;
select "s".*
  from "subtasks" as "s"
  inner join "task_instances" as "t" on "t"."id" = "s"."task_id"
  where "t"."user_id" = $1 and "s"."id" > $2
  order by "s"."id"
  limit $3;
select *
  from "reminders"
  where "user_id" = $1 and "id" > $2
  order by "id"
  limit $3;
select *
  from "notes"
  where "user_id" = $1 and "id" > $2
  order by "id"
  limit $3;
select *
  from "notifications"
  where "user_id" = $1 and "id" > $2
  order by "id"
  limit $3;
select 1 as one
  from sync_changes
  where user_id = $1 and xid >= $2::xid8 and xid < $3::xid8
  limit 1;
commit;
