-- Search (issue 18): a user with 100 000 items answered GET /search in p95 82 ms, because an exact
-- ranking and an exact total read and ranked every match (20 000 for a two-letter prefix). A search
-- now ranks only the 1 000 most recently changed matches (docs/decisions/0008): each document
-- records when its text last changed, and an index on (user_id, changed_at desc, id desc) lets the
-- planner walk the user's documents newest first, testing the query on each, and stop at 1 000
-- matches (a common word); for a rarer one it keeps the (user_id, document) GIN and sorts its
-- matches. The index leads with user_id, so it replaces search_documents_user_idx (the account
-- deletion's cascade uses it the same way) and a write still maintains two indexes.

alter table search_documents add column changed_at timestamptz;

-- Backfill: the entity's updated_at, the nearest record of its last change (it may be later than
-- the text's last change: completing a task moves it too).
update search_documents d set changed_at = t.updated_at from task_instances t where d.kind = 'task' and t.id = d.id;
update search_documents d set changed_at = s.updated_at from subtasks s where d.kind = 'subtask' and s.id = d.id;
update search_documents d set changed_at = n.updated_at from notes n where d.kind = 'note' and n.id = d.id;
update search_documents set changed_at = now() where changed_at is null;

-- clock_timestamp(), not now(): rows written by one statement (an import, a recovery) keep the
-- order they were written in.
alter table search_documents alter column changed_at set default clock_timestamp(), alter column changed_at set not null;

create index search_documents_user_changed_idx on search_documents (user_id, changed_at desc, id desc);
drop index search_documents_user_idx;

-- The GIN's pending list (fastupdate, up to gin_pending_list_limit = 4 MB of all users' recent
-- writes) is read in full by every search until a VACUUM moves it into the index: on the benchmark,
-- right after 110 000 items were written, a search that matched nothing read 487 pages, against 38
-- once the list was merged. A write now updates the index in place (about 20 entries per document).
alter index search_documents_user_document_idx set (fastupdate = off);
select gin_clean_pending_list('search_documents_user_document_idx'::regclass);

create or replace function search_index_entity() returns trigger
language plpgsql as $$
declare
  owner uuid;
begin
  if tg_op = 'DELETE' then
    delete from search_documents where id = old.id;
    return old;
  end if;
  if tg_table_name = 'task_instances' then
    insert into search_documents (id, user_id, kind, task_id, title, body, document, changed_at)
    values (new.id, new.user_id, 'task', null, new.title, new.description, search_document(new.title, new.description), clock_timestamp())
    on conflict (id) do update set title = excluded.title, body = excluded.body, document = excluded.document, changed_at = excluded.changed_at;
  elsif tg_table_name = 'subtasks' then
    select user_id into owner from task_instances where id = new.task_id;
    insert into search_documents (id, user_id, kind, task_id, title, body, document, changed_at)
    values (new.id, owner, 'subtask', new.task_id, new.title, '', search_document(new.title, ''), clock_timestamp())
    on conflict (id) do update set task_id = excluded.task_id, title = excluded.title, document = excluded.document, changed_at = excluded.changed_at;
  else
    insert into search_documents (id, user_id, kind, task_id, title, body, document, changed_at)
    values (new.id, new.user_id, 'note', null, new.content, '', search_document(new.content, ''), clock_timestamp())
    on conflict (id) do update set title = excluded.title, document = excluded.document, changed_at = excluded.changed_at;
  end if;
  return new;
end $$;
