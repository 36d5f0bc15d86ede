import { sql } from 'kysely';
import type { components } from '../../../codegen/api.js';
import type { Executor } from '../../../db/index.js';
import { invalidField } from '../../core/errors.js';
import { paginationOf, toPage, type PageParams, type Pagination } from '../../core/pagination.js';
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

/** The caller's tasks, subtasks and notes matching `q`, best first. */
export async function searchItems(db: Executor, { userId, q, page }: { userId: string; q: string; page: PageParams }): Promise<{ data: SearchResult[]; pagination: Pagination }> {
  if (q.trim() === '') throw invalidField('query.q', 'must contain a word');
  const text = toTsQuery(q);
  if (text === null) return { data: [], pagination: paginationOf(page, 0) };
  const query = sql`to_tsquery('public.search_simple'::regconfig, ${text})`;
  // The caller's documents only, matched once: only ids and ranks go through the sort, the total
  // rides along as a window count (a second count scan cost ~3 ms on 10 000 items), and the page's
  // rows are joined back for their text and snippets. The tsquery is written out, not taken from a
  // CTE, so the planner sees its value and can pick the (user_id, document) GIN index.
  const matches = sql`from search_documents d where d.user_id = ${userId} and d.document @@ ${query}`;
  const { rows } = await sql<Row & { total: number }>`
    with top as (
      select d.id, ts_rank(d.document, ${query}) as rank, count(*) over () as total ${matches}
       order by rank desc, d.id limit ${page.limit} offset ${page.offset})
    select d.kind, d.id, d.task_id, d.title, top.rank, top.total::int as total,
           ts_headline('public.search_simple'::regconfig, case when d.body = '' then d.title else d.title || E'\n' || d.body end, ${query}, ${HEADLINE}) as headline
      from top join search_documents d on d.id = top.id
     order by top.rank desc, top.id`.execute(db);
  const total = rows.length > 0 ? Number(rows[0]!.total) : undefined;
  return toPage(rows, page, { present: (r): SearchResult => ({
      kind: r.kind,
      id: r.id,
      task_id: r.task_id,
      title: r.kind === 'note' ? notePreview(r.title) : r.title,
      snippet: snippetOf(r.headline),
      rank: Number(r.rank),
    }), countAll: async () => total ?? Number((await sql<{ n: number }>`select count(*)::int as n ${matches}`.execute(db)).rows[0]!.n) }
  );
}
