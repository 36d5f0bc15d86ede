-- Tasks and what hangs off them (issue #3): recurring templates, task instances, subtasks,
-- reminders and in-app notifications.

create table task_templates (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null references users (id) on delete cascade,
  title text not null check (char_length(title) between 1 and 200),
  description text not null default '' check (char_length(description) <= 2000),
  priority text not null default 'medium' check (priority in ('low', 'medium', 'high')),
  -- RFC 5545 RRULE value without DTSTART; starts_at is the DTSTART, its wall-clock time in the
  -- user's zone is the time of day of every occurrence
  rrule text not null check (char_length(rrule) between 1 and 500),
  starts_at timestamptz not null,
  estimated_duration integer check (estimated_duration between 1 and 720),
  -- due date of the next instance to generate; null when inactive or exhausted
  next_due timestamptz,
  active boolean not null default true,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  check (active or next_due is null)
);
create index task_templates_user_idx on task_templates (user_id, created_at desc, id desc);

create table task_instances (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null references users (id) on delete cascade,
  template_id uuid references task_templates (id) on delete set null,
  -- the completed instance whose completion generated this one: makes generation idempotent
  previous_instance_id uuid,
  title text not null check (char_length(title) between 1 and 200),
  description text not null default '' check (char_length(description) <= 2000),
  priority text not null default 'medium' check (priority in ('low', 'medium', 'high')),
  due_date timestamptz,
  estimated_duration integer check (estimated_duration between 1 and 720),
  focus_time_seconds integer not null default 0 check (focus_time_seconds >= 0),
  completed boolean not null default false,
  completed_at timestamptz,
  completed_by text check (completed_by in ('manual', 'auto', 'force')),
  hidden boolean not null default false,
  archived boolean not null default false,
  version integer not null default 1 check (version >= 1),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  check (
    (completed and completed_at is not null and completed_by is not null)
    or (not completed and completed_at is null and completed_by is null)
  )
);
-- GET /tasks: the user's page, newest first, by visibility and completion (the frontend lists
-- visible open tasks); also the active-task count (not hidden, not completed).
create index task_instances_user_list_idx on task_instances (user_id, hidden, completed, created_at desc, id desc);
create index task_instances_user_created_idx on task_instances (user_id, created_at desc, id desc);
create index task_instances_user_due_idx on task_instances (user_id, due_date) where due_date is not null;
create index task_instances_template_idx on task_instances (template_id, due_date) where template_id is not null;
create unique index task_instances_previous_instance_key on task_instances (previous_instance_id) where previous_instance_id is not null;

create table subtasks (
  id uuid primary key default gen_random_uuid(),
  task_id uuid not null references task_instances (id) on delete cascade,
  title text not null check (char_length(title) between 1 and 200),
  completed boolean not null default false,
  completed_at timestamptz,
  order_index integer not null check (order_index >= 0),
  source text not null default 'user' check (source in ('user', 'ai')),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  check ((completed and completed_at is not null) or (not completed and completed_at is null)),
  -- checked at commit, so a reorder or a shift can pass through duplicates inside its transaction
  constraint subtasks_task_order_key unique (task_id, order_index) deferrable initially deferred
);

create table reminders (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null references users (id) on delete cascade,
  task_id uuid not null references task_instances (id) on delete cascade,
  type text not null check (type in ('before', 'after', 'absolute')),
  -- signed minutes from the task's due date: <= 0 before, >= 0 after, null for absolute
  offset_minutes integer check (offset_minutes between -525600 and 525600),
  method text not null default 'in_app' check (method in ('push', 'in_app')),
  scheduled_at timestamptz not null,
  fired boolean not null default false,
  fired_at timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  check (
    (type = 'absolute' and offset_minutes is null)
    or (type = 'before' and offset_minutes <= 0)
    or (type = 'after' and offset_minutes >= 0)
  ),
  check ((fired and fired_at is not null) or (not fired and fired_at is null))
);
create index reminders_task_idx on reminders (task_id, scheduled_at, id);
create index reminders_user_idx on reminders (user_id, scheduled_at, id);

create table notifications (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null references users (id) on delete cascade,
  type text not null check (type in ('reminder', 'achievement', 'subscription', 'system')),
  title text not null check (char_length(title) between 1 and 100),
  body text not null default '' check (char_length(body) <= 500),
  action_url text check (char_length(action_url) <= 2048),
  -- no foreign key: the notification outlives a deleted task, and a recovered task gets its id back
  task_id uuid,
  read boolean not null default false,
  read_at timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  check ((read and read_at is not null) or (not read and read_at is null))
);
create index notifications_user_idx on notifications (user_id, created_at desc, id desc);
create index notifications_user_unread_idx on notifications (user_id, created_at desc, id desc) where not read;
