-- The SQL the tasks use cases send, statement by statement (parameters as $1…).
-- Written by tests/db/sql-snapshots.test.ts; do not edit. After a query change: UPDATE_SQL_SNAPSHOTS=1 npm test -- tests/db/sql-snapshots.test.ts

-- createTask: POST /tasks
insert into idempotency_keys (user_id, key, fingerprint, method, path, state, locked_until, expires_at) select $1, $2, $3, $4, $5, 'in_flight', now() + make_interval(secs => $6), now() + make_interval(hours => $7)
  from (select set_config('synchronous_commit', 'off', true)) as no_flush_wait
  on conflict (user_id, key) do nothing
  returning key;
begin;
select "u"."tier", coalesce(sum(d.perk_value) filter (where d.perk_type = 'max_tasks'), 0)::int as "max_tasks", coalesce(sum(d.perk_value) filter (where d.perk_type = 'max_notes'), 0)::int as "max_notes", coalesce(sum(d.perk_value) filter (where d.perk_type = 'daily_credits'), 0)::int as "daily_credits"
  from "users" as "u"
  left join "user_achievements" as "a" on "a"."user_id" = "u"."id"
  left join "achievement_definitions" as "d" on "d"."id" = "a"."achievement_id"
  where "u"."id" = $1
  group by "u"."id";
select pg_advisory_xact_lock(hashtextextended($1, 0));
select count(*) as "n"
  from "task_instances"
  where "user_id" = $1 and "hidden" = $2 and "completed" = $3;
insert into "task_instances" ("created_at", "description", "due_date", "estimated_duration", "priority", "title", "updated_at", "user_id")
  values ($1, $2, $3, $4, $5, $6, $7, $8)
  returning "id", "user_id", "template_id", "previous_instance_id", "title", "description", "priority", "due_date", "estimated_duration", "focus_time_seconds", "completed", "completed_at", "completed_by", "hidden", "archived", "version", "created_at", "updated_at";
select "id", "user_id"
  from "webhooks"
  where "user_id" = $1 and "enabled" = $2 and $3 = any(events);
insert into "activity_logs" ("user_id", "entity_type", "entity_id", "action", "source", "request_id", "extra_data")
  values ($1, $2, $3, $4, $5, $6, $7);
commit;
update idempotency_keys
  set state = 'completed', response_status = $1, response_body = $2::jsonb, response_text = $3, response_headers = $4::jsonb, locked_until = null, updated_at = now()
  from (select set_config('synchronous_commit', 'off', true)) as no_flush_wait
  where user_id = $5 and key = $6;

-- listTasks: GET /tasks (first page, defaults)
select "t"."id", "t"."user_id", "t"."template_id", "t"."previous_instance_id", "t"."title", "t"."description", "t"."priority", "t"."due_date", "t"."estimated_duration", "t"."focus_time_seconds", "t"."completed", "t"."completed_at", "t"."completed_by", "t"."hidden", "t"."archived", "t"."version", "t"."created_at", "t"."updated_at", "c"."subtask_count", "c"."subtask_completed_count"
  from (select "id", "user_id", "template_id", "previous_instance_id", "title", "description", "priority", "due_date", "estimated_duration", "focus_time_seconds", "completed", "completed_at", "completed_by", "hidden", "archived", "version", "created_at", "updated_at" from "task_instances" where "user_id" = $1 and "hidden" = $2 order by "created_at" desc, "id" desc limit $3 offset $4) as "t"
  left join lateral (select count(*)::int as "subtask_count", (count(*) filter (where s.completed))::int as "subtask_completed_count" from "subtasks" as "s" where "s"."task_id" = "t"."id") as "c" on true
  order by "t"."created_at" desc, "t"."id" desc;

-- createSubtask: POST /tasks/{task_id}/subtasks
insert into idempotency_keys (user_id, key, fingerprint, method, path, state, locked_until, expires_at) select $1, $2, $3, $4, $5, 'in_flight', now() + make_interval(secs => $6), now() + make_interval(hours => $7)
  from (select set_config('synchronous_commit', 'off', true)) as no_flush_wait
  on conflict (user_id, key) do nothing
  returning key;
begin;
select pg_advisory_xact_lock(hashtextextended($1, 0));
select "id", "user_id", "template_id", "previous_instance_id", "title", "description", "priority", "due_date", "estimated_duration", "focus_time_seconds", "completed", "completed_at", "completed_by", "hidden", "archived", "version", "created_at", "updated_at"
  from "task_instances"
  where "id" = $1;
select "u"."tier", coalesce(sum(d.perk_value) filter (where d.perk_type = 'max_tasks'), 0)::int as "max_tasks", coalesce(sum(d.perk_value) filter (where d.perk_type = 'max_notes'), 0)::int as "max_notes", coalesce(sum(d.perk_value) filter (where d.perk_type = 'daily_credits'), 0)::int as "daily_credits"
  from "users" as "u"
  left join "user_achievements" as "a" on "a"."user_id" = "u"."id"
  left join "achievement_definitions" as "d" on "d"."id" = "a"."achievement_id"
  where "u"."id" = $1
  group by "u"."id";
select count(*) as "n"
  from "subtasks"
  where "task_id" = $1;
insert into "subtasks" ("task_id", "title", "order_index", "source", "created_at", "updated_at")
  values ($1, $2, $3, $4, $5, $6)
  returning "id", "task_id", "title", "completed", "completed_at", "order_index", "source", "created_at", "updated_at";
insert into "activity_logs" ("user_id", "entity_type", "entity_id", "action", "source", "request_id", "extra_data")
  values ($1, $2, $3, $4, $5, $6, $7);
commit;
update idempotency_keys
  set state = 'completed', response_status = $1, response_body = $2::jsonb, response_text = $3, response_headers = $4::jsonb, locked_until = null, updated_at = now()
  from (select set_config('synchronous_commit', 'off', true)) as no_flush_wait
  where user_id = $5 and key = $6;

-- createReminder: POST /tasks/{task_id}/reminders (30 minutes before the due date)
insert into idempotency_keys (user_id, key, fingerprint, method, path, state, locked_until, expires_at) select $1, $2, $3, $4, $5, 'in_flight', now() + make_interval(secs => $6), now() + make_interval(hours => $7)
  from (select set_config('synchronous_commit', 'off', true)) as no_flush_wait
  on conflict (user_id, key) do nothing
  returning key;
begin;
select pg_advisory_xact_lock(hashtextextended($1, 0));
select "id", "user_id", "template_id", "previous_instance_id", "title", "description", "priority", "due_date", "estimated_duration", "focus_time_seconds", "completed", "completed_at", "completed_by", "hidden", "archived", "version", "created_at", "updated_at"
  from "task_instances"
  where "id" = $1
  for update;
select "u"."tier", coalesce(sum(d.perk_value) filter (where d.perk_type = 'max_tasks'), 0)::int as "max_tasks", coalesce(sum(d.perk_value) filter (where d.perk_type = 'max_notes'), 0)::int as "max_notes", coalesce(sum(d.perk_value) filter (where d.perk_type = 'daily_credits'), 0)::int as "daily_credits"
  from "users" as "u"
  left join "user_achievements" as "a" on "a"."user_id" = "u"."id"
  left join "achievement_definitions" as "d" on "d"."id" = "a"."achievement_id"
  where "u"."id" = $1
  group by "u"."id";
select count(*) as "n"
  from "reminders"
  where "task_id" = $1;
insert into "reminders" ("user_id", "task_id", "type", "offset_minutes", "method", "scheduled_at", "created_at", "updated_at")
  values ($1, $2, $3, $4, $5, $6, $7, $8)
  returning "id", "user_id", "task_id", "type", "offset_minutes", "scheduled_at", "method", "fired", "fired_at", "created_at", "updated_at";
select graphile_worker.add_job($1::text, $2::json, run_at => $3::timestamptz, max_attempts => $4::int, job_key => $5::text, job_key_mode => $6::text);
insert into "activity_logs" ("user_id", "entity_type", "entity_id", "action", "source", "request_id", "extra_data")
  values ($1, $2, $3, $4, $5, $6, $7);
commit;
update idempotency_keys
  set state = 'completed', response_status = $1, response_body = $2::jsonb, response_text = $3, response_headers = $4::jsonb, locked_until = null, updated_at = now()
  from (select set_config('synchronous_commit', 'off', true)) as no_flush_wait
  where user_id = $5 and key = $6;

-- updateTask: PATCH /tasks/{task_id} {completed: true}
insert into idempotency_keys (user_id, key, fingerprint, method, path, state, locked_until, expires_at) select $1, $2, $3, $4, $5, 'in_flight', now() + make_interval(secs => $6), now() + make_interval(hours => $7)
  from (select set_config('synchronous_commit', 'off', true)) as no_flush_wait
  on conflict (user_id, key) do nothing
  returning key;
begin;
select "id", "user_id", "template_id", "previous_instance_id", "title", "description", "priority", "due_date", "estimated_duration", "focus_time_seconds", "completed", "completed_at", "completed_by", "hidden", "archived", "version", "created_at", "updated_at"
  from "task_instances"
  where "id" = $1
  for update;
update "task_instances"
  set "completed" = $1, "completed_at" = $2, "completed_by" = $3, "version" = version + 1, "updated_at" = $4
  where "id" = $5 and "version" = $6
  returning "id", "user_id", "template_id", "previous_instance_id", "title", "description", "priority", "due_date", "estimated_duration", "focus_time_seconds", "completed", "completed_at", "completed_by", "hidden", "archived", "version", "created_at", "updated_at", (select count(*)::int from subtasks s where s.task_id = task_instances.id) as "subtask_count", (select count(*)::int from subtasks s where s.task_id = task_instances.id and s.completed) as "subtask_completed_count";
insert into "activity_logs" ("user_id", "entity_type", "entity_id", "action", "source", "request_id", "extra_data")
  values ($1, $2, $3, $4, $5, $6, $7);
select "id", "user_id"
  from "webhooks"
  where "user_id" = $1 and "enabled" = $2 and $3 = any(events);
select pg_advisory_xact_lock(hashtextextended($1, 0));
insert into "user_achievement_states" ("user_id")
  values ($1)
  on conflict ("user_id") do nothing;
insert into "achievement_task_completions" ("user_id", "task_id", "completed_at", "completed_day", "focus_completion")
  values ($1, $2, $3, ($4::timestamptz at time zone 'UTC')::date, $5)
  on conflict ("user_id", "task_id") do nothing
  returning "task_id";
select "task_id"
  from "achievement_task_completions"
  where "user_id" = $1 and "completed_day" = ($2::timestamptz at time zone 'UTC')::date and "task_id" <> $3
  limit $4;
with days as (select distinct completed_day as day from achievement_task_completions where user_id = $1), runs as (select day, day - (row_number() over (order by day))::int as grp from days) select max(day)::text as last, count(*)::int as length
  from runs
  group by grp
  order by last desc;
update "user_achievement_states"
  set "lifetime_tasks_completed" = lifetime_tasks_completed + 1, "focus_completions" = focus_completions + $1, "current_streak" = $2, "longest_streak" = greatest(longest_streak, $3::int), "last_completion_date" = $4, "updated_at" = $5
  where "user_id" = $6
  returning "current_streak", last_completion_date::text as "last_day";
insert into "user_achievements" ("user_id", "achievement_id") select $1::uuid as "user_id", "d"."id"
  from "achievement_definitions" as "d"
  inner join "user_achievement_states" as "s" on "s"."user_id" = $2
  where case d.category when 'tasks' then s.lifetime_tasks_completed when 'streaks' then s.longest_streak when 'focus' then s.focus_completions when 'notes' then s.notes_converted end >= d.threshold
  on conflict ("user_id", "achievement_id") do nothing
  returning "achievement_id";
select "id", "user_id"
  from "webhooks"
  where "user_id" = $1 and "enabled" = $2 and $3 = any(events);
insert into "activity_logs" ("user_id", "entity_type", "entity_id", "action", "source", "request_id", "extra_data")
  values ($1, $2, $3, $4, $5, $6, $7);
commit;
update idempotency_keys
  set state = 'completed', response_status = $1, response_body = $2::jsonb, response_text = $3, response_headers = $4::jsonb, locked_until = null, updated_at = now()
  from (select set_config('synchronous_commit', 'off', true)) as no_flush_wait
  where user_id = $5 and key = $6;

-- deleteTask: DELETE /tasks/{task_id}
begin;
select pg_advisory_xact_lock(hashtextextended($1, 0));
select "id", "user_id", "template_id", "previous_instance_id", "title", "description", "priority", "due_date", "estimated_duration", "focus_time_seconds", "completed", "completed_at", "completed_by", "hidden", "archived", "version", "created_at", "updated_at"
  from "task_instances"
  where "id" = $1
  for update;
select "id", "task_id", "title", "completed", "completed_at", "order_index", "source", "created_at", "updated_at"
  from "subtasks"
  where "task_id" = $1
  order by "order_index";
select "id", "user_id", "task_id", "type", "offset_minutes", "scheduled_at", "method", "fired", "fired_at", "created_at", "updated_at"
  from "reminders"
  where "task_id" = $1
  order by "scheduled_at", "id";
select pg_advisory_xact_lock(hashtextextended($1, 0));
insert into "deletion_tombstones" ("user_id", "entity_type", "entity_id", "title", "snapshot", "deleted_at", "recoverable_until")
  values ($1, $2, $3, $4, $5, $6, $7)
  returning "id", "user_id", "entity_type", "entity_id", "title", "snapshot", "deleted_at", "recoverable_until", "created_at", "updated_at";
delete
  from "deletion_tombstones"
  where "user_id" = $1 and "id" not in (select "id" from "deletion_tombstones" where "user_id" = $2 order by "deleted_at" desc, "created_at" desc limit $3);
select graphile_worker.remove_job($1::text);
delete
  from "task_instances"
  where "id" = $1;
select "id", "user_id"
  from "webhooks"
  where "user_id" = $1 and "enabled" = $2 and $3 = any(events);
insert into "activity_logs" ("user_id", "entity_type", "entity_id", "action", "source", "request_id", "extra_data")
  values ($1, $2, $3, $4, $5, $6, $7);
commit;
