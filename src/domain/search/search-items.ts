import { sql } from 'kysely';
import type { components } from '../../../codegen/api.js';
import type { Executor } from '../../../db/index.js';
import { invalidField } from '../../core/errors.js';
import { paginationOf, type PageParams, type Pagination } from '../../core/pagination.js';
import { notePreview } from '../notes/present.js';

type SearchResult = components['schemas']['SearchResult'];

// Marks around matches chosen from the private-use area: the snippet is HTML-escaped after
// ts_headline, then they become <b></b>, so user text can never inject markup.
const START = '\uE000';
const STOP = '\uE001';
const HEADLINE = `StartSel=${START}, StopSel=${STOP}, MaxWords=24, MinWords=10, ShortWord=0, MaxFragments=1, FragmentDelimiter=" … "`;
const MAX_WORDS = 16;

/**
 * The tsquery text for what the user typed: every word must match, the last also as a prefix. Words
 * are runs of letters, digits and combining marks, so the text can never carry tsquery operators;
 * accents are folded by the search_simple configuration, in the query as in the documents.
 */
export function toTsQuery(q: string): string | null {
  const words = q.normalize('NFC').toLowerCase().split(/[^\p{L}\p{N}\p{M}]+/u).filter(Boolean).slice(0, MAX_WORDS);
  if (words.length === 0) return null;
  return words.map((w, i) => `'${w}'${i === words.length - 1 ? ':*' : ''}`).join(' & ');
}

const escapeHtml = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
const snippetOf = (headline: string) => escapeHtml(headline).replaceAll(START, '<b>').replaceAll(STOP, '</b>');

interface Row {
  kind: 'task' | 'subtask' | 'note';
  id: string;
  task_id: string | null;
  title: string;
  headline: string;
  rank: number;
}

/**
 * How many matches a search ranks: the caller's most recently changed ones (docs/decisions/0008).
 * Ranking every match read and ranked each of them, 80 ms for the 20 000 matches of a short prefix
 * among 100 000 items; a bounded set keeps a search within ~15 ms at any size.
 */
export const SEARCH_CANDIDATES = 1000;

export type SearchPage = { data: SearchResult[]; pagination: Pagination; truncated: boolean };

/**
 * The caller's tasks, subtasks and notes matching `q`: of the matches, the SEARCH_CANDIDATES most
 * recently changed (their text written or edited), best first. `pagination.total` counts the results
 * that paging reaches (at most SEARCH_CANDIDATES); `truncated` says that more items match.
 */
export async function searchItems(db: Executor, { userId, q, page }: { userId: string; q: string; page: PageParams }): Promise<SearchPage> {
  if (q.trim() === '') throw invalidField('query.q', 'must contain a word');
  const text = toTsQuery(q);
  if (text === null) return { data: [], pagination: paginationOf(page, 0), truncated: false };
  const query = sql`to_tsquery('public.search_simple'::regconfig, ${text})`;
  // The newest SEARCH_CANDIDATES + 1 matches (the extra one only tells that more match), ranked as
  // they are found: for a common word the planner walks (user_id, changed_at desc, id desc) testing
  // the query on each document and stops early; for a rarer one it takes the (user_id, document)
  // GIN's matches and keeps the newest. Only ids, ranks and positions go through the sorts (a
  // tsvector carried through them cost more than ranking it); the page's rows are joined back for
  // their text and snippets. The tsquery is written out, not taken from a CTE, so the planner sees
  // its value and can estimate how many documents match.
  const found = sql`select d.id, ts_rank(d.document, ${query}) as rank, row_number() over (order by d.changed_at desc, d.id desc) as n
      from search_documents d
     where d.user_id = ${userId} and d.document @@ ${query}
     order by d.changed_at desc, d.id desc limit ${SEARCH_CANDIDATES + 1}`;
  const { rows } = await sql<Row & { matched: number }>`
    with found as (${found}),
    top as (select f.id, f.rank from found f where f.n <= ${SEARCH_CANDIDATES} order by f.rank desc, f.id limit ${page.limit} offset ${page.offset})
    select d.kind, d.id, d.task_id, d.title, top.rank, (select count(*) from found)::int as matched,
           ts_headline('public.search_simple'::regconfig, case when d.body = '' then d.title else d.title || E'\n' || d.body end, ${query}, ${HEADLINE}) as headline
      from top join search_documents d on d.id = top.id
     order by top.rank desc, top.id`.execute(db);
  // A page past the end has no row to carry the count: count the candidates alone (an empty first
  // page means nothing matched).
  const matched =
    rows.length > 0 ? Number(rows[0]!.matched) : page.offset === 0 ? 0 : Number((await sql<{ n: number }>`select count(*)::int as n from (${found}) f`.execute(db)).rows[0]!.n);
  return {
    data: rows.map((r): SearchResult => ({
      kind: r.kind,
      id: r.id,
      task_id: r.task_id,
      title: r.kind === 'note' ? notePreview(r.title) : r.title,
      snippet: snippetOf(r.headline),
      rank: Number(r.rank),
    })),
    pagination: paginationOf(page, Math.min(matched, SEARCH_CANDIDATES)),
    truncated: matched > SEARCH_CANDIDATES,
  };
}
