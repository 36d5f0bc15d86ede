-- Search (issue #8): full-text search over task titles and descriptions, subtasks and notes.
--
-- search_simple is the 'simple' configuration with accents folded first: no stemming and no stop
-- words, because titles are short and in any language, and a prefix query ("gro" → "groceries")
-- must match the word as typed, which stemming would break (english stores "running" as "run", so
-- "runn" would find nothing). Folding inside the configuration (not around to_tsvector) keeps
-- ts_headline able to mark "Café" for the query "cafe". to_tsvector with a named configuration is
-- IMMUTABLE. unaccent is a trusted extension: a database owner may create it.

create extension if not exists unaccent;

create text search configuration search_simple (copy = pg_catalog.simple);
alter text search configuration search_simple
  alter mapping for asciiword, asciihword, hword_asciipart, word, hword, hword_part
  with unaccent, simple;

-- Titles weigh more (A) than descriptions (B) in the rank.
create function search_document(title text, body text) returns tsvector
language sql immutable parallel safe
return setweight(to_tsvector('public.search_simple'::regconfig, coalesce(title, '')), 'A')
    || setweight(to_tsvector('public.search_simple'::regconfig, coalesce(body, '')), 'B');

-- One row per searchable entity, kept by triggers. The vector is stored because ranking reads it
-- for every match (computing it per query costs ~100 µs a row); it lives here and not in a
-- generated column of the entity tables because their tombstone snapshots are whole rows that
-- recovery inserts back, which a generated column would refuse. GIN on the vector alone: a
-- (user_id, document) GIN (btree_gin) reads the user's whole posting list on every query, ten
-- times slower for a user with 10 000 items (bench/search.ts); the planner combines the two
-- indexes when the user's rows are the rarer side.
create table search_documents (
  id uuid primary key,
  user_id uuid not null references users (id) on delete cascade,
  kind text not null check (kind in ('task', 'subtask', 'note')),
  -- the parent task of a subtask
  task_id uuid,
  title text not null,
  body text not null,
  document tsvector not null
);
create index search_documents_document_idx on search_documents using gin (document);
create index search_documents_user_idx on search_documents (user_id);

create function search_index_entity() returns trigger
language plpgsql as $$
declare
  owner uuid;
begin
  if tg_op = 'DELETE' then
    delete from search_documents where id = old.id;
    return old;
  end if;
  if tg_table_name = 'task_instances' then
    insert into search_documents (id, user_id, kind, task_id, title, body, document)
    values (new.id, new.user_id, 'task', null, new.title, new.description, search_document(new.title, new.description))
    on conflict (id) do update set title = excluded.title, body = excluded.body, document = excluded.document;
  elsif tg_table_name = 'subtasks' then
    select user_id into owner from task_instances where id = new.task_id;
    insert into search_documents (id, user_id, kind, task_id, title, body, document)
    values (new.id, owner, 'subtask', new.task_id, new.title, '', search_document(new.title, ''))
    on conflict (id) do update set task_id = excluded.task_id, title = excluded.title, document = excluded.document;
  else
    insert into search_documents (id, user_id, kind, task_id, title, body, document)
    values (new.id, new.user_id, 'note', null, new.content, '', search_document(new.content, ''))
    on conflict (id) do update set title = excluded.title, document = excluded.document;
  end if;
  return new;
end $$;

create trigger search_index_task after insert or update of title, description or delete on task_instances
  for each row execute function search_index_entity();
create trigger search_index_subtask after insert or update of title, task_id or delete on subtasks
  for each row execute function search_index_entity();
create trigger search_index_note after insert or update of content or delete on notes
  for each row execute function search_index_entity();

insert into search_documents (id, user_id, kind, task_id, title, body, document)
select id, user_id, 'task', null, title, description, search_document(title, description) from task_instances;
insert into search_documents (id, user_id, kind, task_id, title, body, document)
select s.id, t.user_id, 'subtask', s.task_id, s.title, '', search_document(s.title, '') from subtasks s join task_instances t on t.id = s.task_id;
insert into search_documents (id, user_id, kind, task_id, title, body, document)
select id, user_id, 'note', null, content, '', search_document(content, '') from notes;
