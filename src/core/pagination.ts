import type { components } from '../../codegen/api.js';

export type Pagination = components['schemas']['Pagination'];
export interface PageParams {
  offset: number;
  limit: number;
}

export const DEFAULT_LIMIT = 25;

export const pageParams = (q: { offset?: number; limit?: number }): PageParams => ({
  offset: q.offset ?? 0,
  limit: q.limit ?? DEFAULT_LIMIT,
});

/**
 * Builds `{data, pagination}` from one page of rows. The total comes from `countAll` only when the
 * page cannot tell it: a short first page *is* the total, and a short later page ends at
 * offset + its length. (A `count(*) over()` beside the page would make PostgreSQL read every
 * matching row to return 25; a separate count stays on the index.)
 */
export async function toPage<R, T>(
  rows: R[],
  p: PageParams,
  { present, countAll }: { present: (row: R) => T; countAll: () => Promise<number> },
): Promise<{ data: T[]; pagination: Pagination }> {
  const lastPage = rows.length > 0 && rows.length < p.limit;
  const total = p.offset === 0 && rows.length < p.limit ? rows.length : lastPage ? p.offset + rows.length : await countAll();
  return { data: rows.map(present), pagination: paginationOf(p, total) };
}

export const paginationOf = (p: PageParams, total: number): Pagination => ({
  offset: p.offset,
  limit: p.limit,
  total,
  has_more: p.offset + p.limit < total,
});
