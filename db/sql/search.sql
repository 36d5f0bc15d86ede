-- The SQL the search use cases send, statement by statement (parameters as $1…).
-- Written by tests/db/sql-snapshots.test.ts; do not edit. After a query change: UPDATE_SQL_SNAPSHOTS=1 npm test -- tests/db/sql-snapshots.test.ts

-- search: GET /search?q=report
with found as (select d.id, ts_rank(d.document, to_tsquery('public.search_simple'::regconfig, $1)) as rank, row_number() over (order by d.changed_at desc, d.id desc) as n from search_documents d where d.user_id = $2 and d.document @@ to_tsquery('public.search_simple'::regconfig, $3) order by d.changed_at desc, d.id desc limit $4), top as (select f.id, f.rank from found f where f.n <= $5 order by f.rank desc, f.id limit $6 offset $7) select d.kind, d.id, d.task_id, d.title, top.rank, (select count(*) from found)::int as matched, ts_headline('public.search_simple'::regconfig, case when d.body = '' then d.title else d.title || E'
' || d.body end, to_tsquery('public.search_simple'::regconfig, $8), $9) as headline
  from top
  join search_documents d on d.id = top.id
  order by top.rank desc, top.id;
