-- Search (issue 18, docs/decisions/0009): the planner chose between walking a user's documents
-- newest first and reading the GIN's matches from its table-wide estimate of how many match, and
-- near the crossover it chose wrong (the benchmark's rarer words: 10 ms on the GIN where the walk
-- takes 2 ms; a query matching nothing costs 25 ms walked against 0.5 on the GIN). The service now
-- decides from what a short walk finds (src/domain/search/search-items.ts), and each way is a function whose settings leave the
-- planner that one way: a function with SET clauses is not inlined, and the settings hold only while
-- it runs. PL/pgSQL, so each session plans their statements once, not on every search.

-- How many of the user's newest p_bound documents there are (fewer when the user has fewer) and
-- how many of them match: the sample the service decides from. Counting only, in one walk.
create function search_probe(p_user uuid, p_query tsquery, p_bound int)
returns table (examined int, hits int)
language plpgsql stable
set enable_bitmapscan = off set enable_seqscan = off
as $$
begin
  return query select count(*)::int, (count(*) filter (where d.document @@ p_query))::int
    from (select s.document from search_documents s
           where s.user_id = p_user order by s.changed_at desc, s.id desc limit p_bound) d;
end $$;

-- The newest p_want matches among the user's newest p_bound documents, ranked, with their recency
-- order n. The bound makes this a walk of (user_id, changed_at desc, id desc); with bitmap and
-- sequential scans off, a user with fewer documents than the bound is walked too, not read whole
-- and sorted (18 ms against 5 for 10 000 documents).
create function search_walk(p_user uuid, p_query tsquery, p_bound int, p_want int)
returns table (id uuid, rank real, n bigint)
language plpgsql stable
set enable_bitmapscan = off set enable_seqscan = off
as $$
begin
  return query select d.id, ts_rank(d.document, p_query), row_number() over (order by d.changed_at desc, d.id desc)
    from (select s.id, s.changed_at, s.document from search_documents s
           where s.user_id = p_user order by s.changed_at desc, s.id desc limit p_bound) d
   where d.document @@ p_query
   order by d.changed_at desc, d.id desc
   limit p_want;
end $$;

-- The newest p_want of all the user's matches, from the (user_id, document) GIN: one heap visit per
-- match, then a sort by recency. Index scans off, so the walk above is never taken in its place.
create function search_gin(p_user uuid, p_query tsquery, p_want int)
returns table (id uuid, rank real, n bigint)
language plpgsql stable
set enable_indexscan = off set enable_seqscan = off
as $$
begin
  return query select d.id, ts_rank(d.document, p_query), row_number() over (order by d.changed_at desc, d.id desc)
    from search_documents d
   where d.user_id = p_user and d.document @@ p_query
   order by d.changed_at desc, d.id desc
   limit p_want;
end $$;
