-- Search (issue #8), measured on bench/search.ts (10 000 items of one user among 30 000): every
-- search filters by user, so the GIN on the vector alone was never chosen; the planner read all of
-- the user's rows and tested each vector, ~4 ms even for a word that matches nothing. One GIN on
-- (user_id, document) (btree_gin, a trusted extension) answers a rare or absent word from the index
-- alone (0.1–2 ms); for a common word the planner still prefers the user's rows, which it ranks
-- anyway. It replaces the vector-only GIN, so a write maintains one GIN index, not two.
create extension if not exists btree_gin;
create index search_documents_user_document_idx on search_documents using gin (user_id, document);
drop index search_documents_document_idx;
