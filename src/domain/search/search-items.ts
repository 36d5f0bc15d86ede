import { sql } from 'kysely';
import type { components } from '../../../codegen/api.js';
import type { Executor } from '../../../db/index.js';
import { QueryShapes } from '../../../db/query-shapes.js';
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

/**
 * How a search finds its candidates (docs/decisions/0009): it first counts the matches among the
 * caller's newest SEARCH_PROBE documents. A caller with fewer documents, or a query matching at least
 * PROBE_DENSE of them (7.5 %, so its walk should fill the candidates within about 13 000 documents),
 * is answered by walking the documents newest first, at most WALK_BOUND; a walk that does not fill
 * the candidates, and a thinner query, by the GIN.
 */
export const SEARCH_PROBE = 2000;
export const PROBE_DENSE = 150;
export const WALK_BOUND = 25_000;

export type SearchPage = { data: SearchResult[]; pagination: Pagination; truncated: boolean };

/** Which way a search found its candidates: for tests and the benchmark, never in a response. */
export type SearchPath = 'walk' | 'walk, then gin' | 'gin';

interface PageRow extends Partial<Row> {
  matched: number;
  path: SearchPath;
}

interface SearchValues extends Record<string, unknown> {
  userId: string;
  /** The tsquery's text (toTsQuery). */
  text: string;
  limit: number;
  offset: number;
}

const WANT = SEARCH_CANDIDATES + 1; // the extra one only tells that more match

/**
 * The candidates are the newest WANT matches, found one of two ways: walking the caller's documents
 * newest first, testing each (cheap when the query is common among recent items), or reading the
 * (user_id, document) GIN's matches, one heap visit each, and keeping the newest (cheap when it is
 * rare). The planner can only guess which from table-wide statistics, and near the crossover its
 * guess changed from one run to the next (bench/fixes.md rows 31 and 33), so the statement decides
 * from a sample: the probe counts the matches among the newest SEARCH_PROBE documents. Each way is
 * a function that leaves the planner only that way (migration 0026), and a CTE whose condition is
 * false never calls its function. Then the page of candidates, ranked, with snippets; the one row
 * of counts comes back even when the page is empty. A named prepared statement: planned once per
 * connection.
 */
const searchStatement = new QueryShapes<SearchValues, PageRow>((v) => {
  const query = sql`to_tsquery('public.search_simple'::regconfig, ${v.text})`;
  return sql<PageRow>`
    with probe as materialized (select p.examined, p.examined < ${SEARCH_PROBE} or p.hits >= ${PROBE_DENSE} as walk from search_probe(${v.userId}, ${query}, ${SEARCH_PROBE}) p),
    walked as materialized (select w.id, w.rank, w.n from search_walk(${v.userId}, ${query}, ${WALK_BOUND}, ${WANT}) w where (select walk from probe)),
    -- The walk is the answer when it filled the candidates or saw all of a small caller's documents.
    -- Otherwise the caller may have more than WALK_BOUND of them: the GIN sees all.
    decided as materialized (select (select count(*) from walked) >= ${WANT} or p.examined < ${SEARCH_PROBE} as walk_done, p.walk from probe p),
    found as (select w.id, w.rank, w.n from walked w where (select walk_done from decided)
              union all
              select g.id, g.rank, g.n from search_gin(${v.userId}, ${query}, ${WANT}) g where not (select walk_done from decided)),
    counted as (select count(*)::int as matched from found),
    top as (select f.id, f.rank from found f where f.n <= ${SEARCH_CANDIDATES} order by f.rank desc, f.id limit ${v.limit} offset ${v.offset})
    select c.matched, case when d.walk_done then 'walk' when d.walk then 'walk, then gin' else 'gin' end as path,
           p.kind, p.id, p.task_id, p.title, p.rank, p.headline
      from counted c cross join decided d
      left join lateral (
        select s.kind, s.id, s.task_id, s.title, top.rank,
               ts_headline('public.search_simple'::regconfig, case when s.body = '' then s.title else s.title || E'\n' || s.body end, ${query}, ${HEADLINE}) as headline
          from top join search_documents s on s.id = top.id) p on true
     order by p.rank desc, p.id`;
}, { prepared: true });

/**
 * The caller's tasks, subtasks and notes matching `q`: of the matches, the SEARCH_CANDIDATES most
 * recently changed (their text written or edited), best first. `pagination.total` counts the results
 * that paging reaches (at most SEARCH_CANDIDATES); `truncated` says that more items match.
 */
export async function searchItems(db: Executor, { userId, q, page, onPath }: { userId: string; q: string; page: PageParams; onPath?: (path: SearchPath) => void }): Promise<SearchPage> {
  if (q.trim() === '') throw invalidField('query.q', 'must contain a word');
  const text = toTsQuery(q);
  if (text === null) return { data: [], pagination: paginationOf(page, 0), truncated: false };
  const { rows } = await db.executeQuery(searchStatement.query('', { userId, text, limit: page.limit, offset: page.offset }));
  const { matched, path } = rows[0]!;
  onPath?.(path);
  return {
    data: (rows.filter((r) => r.id != null) as (Row & PageRow)[]).map((r): SearchResult => ({
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
