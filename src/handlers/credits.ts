import { listCreditHistory as listCreditHistoryUseCase } from '../domain/credits/history.js';
import { creditBalance } from '../domain/credits/ledger.js';
import { caller, type Handler } from '../http/operation.js';
import { pageParams } from '../core/pagination.js';

export const getCreditBalance: Handler<'getCreditBalance'> = async (_req, ctx) => ({
  status: 200,
  body: { data: await creditBalance(ctx.deps.db, caller(ctx).userId) },
});

export const listCreditHistory: Handler<'listCreditHistory'> = async (req, ctx) => ({
  status: 200,
  body: await listCreditHistoryUseCase(ctx.deps.db, caller(ctx).userId, pageParams(req.query)),
});
