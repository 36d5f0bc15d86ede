-- The SQL the search use cases send, statement by statement (parameters as $1…).
-- Written by tests/db/sql-snapshots.test.ts; do not edit. After a query change: UPDATE_SQL_SNAPSHOTS=1 npm test -- tests/db/sql-snapshots.test.ts

-- search: GET /search?q=report
with probe as materialized (select p.examined, p.examined < $1 or p.hits >= $2 as walk from search_probe($3, to_tsquery('public.search_simple'::regconfig, $4), $5) p), walked as materialized (select w.id, w.rank, w.n from search_walk($6, to_tsquery('public.search_simple'::regconfig, $7), $8, $9) w where (select walk from probe)), decided as materialized (select (select count(*) from walked) >= $10 or p.examined < $11 as walk_done, p.walk from probe p), found as (select w.id, w.rank, w.n from walked w where (select walk_done from decided) union all select g.id, g.rank, g.n from search_gin($12, to_tsquery('public.search_simple'::regconfig, $13), $14) g where not (select walk_done from decided)), counted as (select count(*)::int as matched from found), top as (select f.id, f.rank from found f where f.n <= $15 order by f.rank desc, f.id limit $16 offset $17) select c.matched, case when d.walk_done then 'walk' when d.walk then 'walk, then gin' else 'gin' end as path, p.kind, p.id, p.task_id, p.title, p.rank, p.headline
  from counted c
  cross join decided d
  left join lateral (select s.kind, s.id, s.task_id, s.title, top.rank, ts_headline('public.search_simple'::regconfig, case when s.body = '' then s.title else s.title || E'
' || s.body end, to_tsquery('public.search_simple'::regconfig, $18), $19) as headline from top join search_documents s on s.id = top.id) p on true
  order by p.rank desc, p.id;
