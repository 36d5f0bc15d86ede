import type { ServerResponse } from 'node:http';
import type { OperationInfo } from '../core/contract.js';
import type { AppDeps } from '../deps.js';
import { deprecationHeaders } from './deprecation.js';
import type { HandlerRegistry, OperationId, StreamReplayer, StreamReply } from './operation.js';
import { createOperationRouter } from './operation-router.js';
import { authenticate } from './pipeline/authenticate.js';
import { runIdempotently, STREAMED } from './pipeline/idempotency-step.js';
import { checkMediaType } from './pipeline/media-type.js';
import { countRequest, writeRateLimitHeaders } from './pipeline/rate-limit-step.js';
import { routeRequest } from './pipeline/route.js';
import { requestContext, runHandler, type AnyHandler } from './pipeline/run.js';
import { validateRequest } from './pipeline/validate.js';
import { withBodyText, writeAnswer, writeStream } from './pipeline/write.js';
import { requestState, type ApiRequest } from './request-state.js';
import { varyOn } from './response-headers.js';
import { createRequestValidation } from './request-validation.js';
import { createResponseSerializers } from './response-serializers.js';

export const API_ROOT = '/api/v1';

/** An operation as the pipeline runs it: its contract entry, handler and (for a stream) its replayer. */
interface Operation {
  info: OperationInfo;
  handler: AnyHandler;
  replayStream?: StreamReplayer;
}

/**
 * Runs every /api/v1 request through one pipeline, built from the contract at start-up; each step
 * is a module in src/http/pipeline/:
 * route (404/405) → media type (415) → authenticate (401) → rate limit (429) → validate (400) →
 * idempotency (replay, 409, 422) → run the handler → write the response (a success's JSON by the
 * serializer compiled from its response schema: response-serializers.ts).
 */
export function createDispatcher(deps: AppDeps, registry: HandlerRegistry): (req: ApiRequest, res: ServerResponse) => Promise<void> {
  const { contract, config } = deps;
  const deprecations = deprecationHeaders(contract);
  const route = createOperationRouter(contract, API_ROOT);
  const validation = createRequestValidation(contract);
  const serializerOf = createResponseSerializers(contract, { check: config.NODE_ENV !== 'production' });

  const operations = new Map<OperationId, Operation>();
  for (const operationId of Object.keys(registry) as OperationId[]) {
    const handler = registry[operationId] as AnyHandler;
    const info = contract.operations.get(operationId);
    if (!info) throw new Error(`handler registered for ${operationId}, which the contract does not define`);
    operations.set(operationId, { info, handler, replayStream: (handler as { replayStream?: StreamReplayer }).replayStream });
  }

  return async (req, res) => {
    const { operationId, params } = routeRequest(route, req, res);
    const info = contract.operations.get(operationId)!;
    const state = requestState(res);
    state.operationId = operationId;
    checkMediaType(req, info);
    const dep = deprecations.get(operationId);
    if (dep) for (const [k, v] of Object.entries(dep)) res.setHeader(k, v);

    if (info.authenticated) varyOn(res, 'Authorization'); // also on its 401
    const auth = info.authenticated ? await authenticate(req.headers, deps, info.ticketAuth ? { ...info, ticket: req.query.ticket } : info) : null;
    if (auth) state.userId = auth.userId;
    if (info.rateLimit !== 'none') writeRateLimitHeaders(res, await countRequest(deps.rateLimits, info.rateLimit, { ip: req.ip, path: req.path, userId: auth?.userId }));
    const request = validateRequest(validation, info, { req, params });

    const op = operations.get(operationId)!;
    const ctx = requestContext(deps, { operationId, req, auth, requestId: state.requestId });
    const token = auth?.personalToken;
    // A token's last use is noted for answered requests only (a refused one changes nothing), and
    // before the answer is written: a client that has seen the end finds nothing still to land.
    const answer = async () => {
      const r = await runHandler(op.handler, { request, ctx, state });
      if (token && (r.status === 'stream' || r.status < 400)) await deps.personalTokens.touch(token.id);
      if (r.status === 'stream' || state.contentType !== undefined) return r;
      return withBodyText(r, serializerOf(operationId, r.status));
    };
    const key = req.headers['idempotency-key'];
    const result =
      typeof key === 'string' && op.info.idempotent && auth
        ? await runIdempotently(deps.db, { ttlHours: config.IDEMPOTENCY_TTL_HOURS, auth, key, method: req.method!, path: req.path, body: request.body }, { res, execute: answer })
        : await answer();
    if (result === STREAMED) return;
    if (result.status === 'stream') return writeStream(res, result as StreamReply);
    writeAnswer(res, result, { requestHeaders: request.headers, replayStream: op.replayStream, contentType: state.contentType });
  };
}
