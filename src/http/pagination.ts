import { sql } from 'kysely';
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

/** Select this beside a page's columns to learn the total in the same query. */
export const totalCount = sql<number>`count(*) over()`.as('total_count');

/**
 * Builds `{data, pagination}` from rows selected with `totalCount`. A page past the end has no row to
 * carry the total, so `countAll` is asked then.
 */
export async function toPage<R extends { total_count: number }, T>(
  rows: R[],
  p: PageParams,
  present: (row: R) => T,
  countAll: () => Promise<number>,
): Promise<{ data: T[]; pagination: Pagination }> {
  const total = rows.length > 0 ? Number(rows[0]!.total_count) : p.offset > 0 ? await countAll() : 0;
  return { data: rows.map(present), pagination: paginationOf(p, total) };
}

export const paginationOf = (p: PageParams, total: number): Pagination => ({
  offset: p.offset,
  limit: p.limit,
  total,
  has_more: p.offset + p.limit < total,
});
