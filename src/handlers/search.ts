import { searchItems } from '../domain/search/search-items.js';
import { caller, type Handler } from '../http/operation.js';
import { pageParams } from '../core/pagination.js';

export const search: Handler<'search'> = async (req, ctx) => {
  const { q, ...page } = req.query;
  return { status: 200, body: await searchItems(ctx.deps.db, { userId: caller(ctx).userId, q, page: pageParams(page) }) };
};
