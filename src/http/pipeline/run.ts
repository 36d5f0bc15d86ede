import type { AppDeps } from '../../deps.js';
import type { AuthContext } from '../../domain/auth/access-tokens.js';
import { accountExists } from '../../domain/users/queries.js';
import { DomainError, accountGone, errorBody, headersOf, isForeignKeyViolation, statusOf } from '../errors.js';
import type { StoredResponse } from '../idempotency.js';
import type { OperationId, OperationRequest, Reply, RequestContext, StreamReply } from '../operation.js';
import type { ApiRequest, RequestState } from '../request-state.js';

export type AnyHandler = (r: OperationRequest<OperationId>, ctx: RequestContext) => Promise<Reply<OperationId> | StreamReply>;

/** What a handler sees of its request beyond the request itself. */
export function requestContext(
  deps: AppDeps,
  { operationId, req, auth, requestId }: { operationId: OperationId; req: ApiRequest; auth: AuthContext | null; requestId: string },
): RequestContext {
  let log: RequestContext['log'] | undefined;
  return {
    requestId,
    operationId,
    method: req.method!,
    path: req.path,
    ip: req.ip,
    auth,
    // Made on first use: most requests log nothing, and a pino child costs its bindings' serialization.
    get log() {
      return (log ??= deps.log.child({ request_id: requestId, operation: operationId }));
    },
    deps,
  };
}

/** A write that raced the deletion of its account fails on a foreign key: for the caller, a 401. */
export async function accountGoneOr(db: AppDeps['db'], auth: AuthContext | null, err: unknown): Promise<unknown> {
  return auth && isForeignKeyViolation(err) && !(await accountExists(db, auth.userId)) ? accountGone() : err;
}

/**
 * Step 7: the handler's answer, as a response to store and write, or its stream. A business error
 * (a 4xx other than 429) is an answer like any other, so an idempotent retry replays it too; any
 * other error is thrown on.
 */
export async function runHandler(
  handler: AnyHandler,
  { request, ctx, state }: { request: OperationRequest<OperationId>; ctx: RequestContext; state: RequestState },
): Promise<StoredResponse | StreamReply> {
  try {
    const reply = await handler(request, ctx);
    if (reply.status === 'stream') return reply as StreamReply;
    const r = reply as unknown as { status: number; body: unknown; headers?: Record<string, string>; contentType?: string; replayBody?: unknown };
    if (r.contentType) state.contentType = r.contentType;
    return { status: r.status, body: r.body, headers: r.headers ?? {}, ...(r.replayBody !== undefined ? { replayBody: r.replayBody } : {}) };
  } catch (caught) {
    const err = await accountGoneOr(ctx.deps.db, ctx.auth, caught);
    if (err instanceof DomainError && statusOf(err) < 500 && statusOf(err) !== 429) {
      state.errorCode = err.code;
      return { status: statusOf(err), body: errorBody(err, ctx.requestId), headers: headersOf(err) ?? {} };
    }
    throw err;
  }
}
