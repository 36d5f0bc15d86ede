import type { ServerResponse } from 'node:http';
import type { AppDeps } from '../deps.js';
import { verifyAccessToken, type AuthContext } from '../domain/auth/access-tokens.js';
import { accountExists } from '../domain/users/queries.js';
import { AppError, DomainError, accountGone, errorBody, headersOf, statusOf, isForeignKeyViolation, sessionEnded, unauthorized, validationError, type ErrorDetail } from './errors.js';
import { assertStorableJson } from './body-guard.js';
import { hasBodyBytes, isJson } from './json-body.js';
import { deprecationHeaders } from './deprecation.js';
import { withIdempotency, type StoredResponse } from './idempotency.js';
import type { HandlerRegistry, OperationId, OperationRequest, Reply, RequestContext, StreamReplayer, StreamReply } from './operation.js';
import { rateLimitHeaders, rateLimitKey } from './rate-limit.js';
import { createOperationRouter } from './operation-router.js';
import { requestState, type ApiRequest } from './request-state.js';
import { varyOn } from './response-headers.js';
import { createRequestValidation, type RequestParts } from './request-validation.js';

export const API_ROOT = '/api/v1';

/** The most details one 400 lists (a body with thousands of wrong values would otherwise echo each). */
const MAX_DETAILS = 100;

/** Ajv errors as `{field, message}` details: `body.title`, `query.limit`, `path.task_id`, `header.if-match`. */
function toDetails(errors: any[]): ErrorDetail[] {
  const where: Record<string, string> = { requestBody: 'body', query: 'query', path: 'path', header: 'header' };
  const seen = new Set<string>();
  const details: ErrorDetail[] = [];
  for (const e of errors) {
    const [, root = '', ...rest] = String(e.instancePath ?? '').split('/');
    const segments = [where[root] ?? (root || 'body'), ...rest.map((s: string) => s.replace(/~1/g, '/').replace(/~0/g, '~'))];
    let message = e.message ?? 'is invalid';
    if (root === '' && e.keyword === 'required' && e.params.missingProperty === 'requestBody') {
      // No body at all where one is required.
      details.push({ field: 'body', message: 'a JSON body is required' });
      continue;
    }
    if (e.keyword === 'required' || e.keyword === 'dependentRequired') segments.push(e.params.missingProperty);
    if (e.keyword === 'dependentRequired') message = `is required with ${e.params.property}`;
    if (e.keyword === 'additionalProperties') {
      segments.push(e.params.additionalProperty);
      message = 'is not allowed';
    }
    if (root === 'requestBody' && segments.length === 1 && e.keyword === 'required') message = 'a JSON body is required';
    // oneOf/if branches repeat the same complaint; keep one per field
    const field = segments.filter((s) => s !== undefined && s !== '').join('.');
    const key = `${field}|${message}`;
    if (seen.has(key) || e.keyword === 'oneOf' || e.keyword === 'if') continue;
    seen.add(key);
    details.push({ field, message });
    if (details.length === MAX_DETAILS) break;
  }
  return details.length ? details : [{ field: 'body', message: 'is invalid' }];
}

function isIdempotencyKeyMissing(errors: any[]): boolean {
  return errors.some((e) => e.keyword === 'required' && e.instancePath === '/header' && e.params?.missingProperty === 'idempotency-key');
}

export function writeStored(res: ServerResponse, r: StoredResponse, contentType = 'application/json; charset=utf-8'): void {
  res.statusCode = r.status;
  for (const [k, v] of Object.entries(r.headers)) res.setHeader(k, v);
  if (r.body === undefined || r.status === 204) {
    res.end();
    return;
  }
  res.setHeader('Content-Type', contentType);
  const text = r.bodyText ?? (typeof r.body === 'string' ? r.body : JSON.stringify(r.body));
  res.setHeader('Content-Length', Buffer.byteLength(text)); // also on HEAD, where Node sends no body
  res.end(text);
}

/**
 * Runs every /api/v1 request through one pipeline, built from the contract at start-up:
 * route (404/405) → 415 check → bearer auth (401) → rate limit (429) → contract validation (400) →
 * idempotency (replay, 409, 422) → handler → response.
 */
export function createDispatcher(deps: AppDeps, registry: HandlerRegistry): (req: ApiRequest, res: ServerResponse) => Promise<void> {
  const { contract, config } = deps;
  const deprecations = deprecationHeaders(contract);
  const route = createOperationRouter(contract, API_ROOT);
  const validation = createRequestValidation(contract);

  /** The bearer token's caller; throws the 401 (or the account or session check's database error, a 5xx). */
  const authenticate = async (req: ApiRequest): Promise<AuthContext> => {
    const header = req.headers.authorization;
    if (!header) throw unauthorized();
    const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (!m) throw unauthorized('Authorization must be "Bearer <access token>"');
    const auth = verifyAccessToken(deps.tokens.keys, deps.tokens.access, m[1]!);
    // Access tokens are stateless for 15 minutes; one whose account was deleted or whose session
    // ended must stop at once. Both answers come from memory in the common case (live-keys.ts).
    if (!(await deps.liveAccounts.isLive(auth.userId))) throw accountGone();
    if (!(await deps.liveSessions.isLive(auth.sessionId))) throw sessionEnded();
    return auth;
  };

  type Run = (req: ApiRequest, res: ServerResponse, auth: AuthContext | null, request: OperationRequest<OperationId>) => Promise<void>;
  const runners = new Map<OperationId, Run>();
  for (const operationId of Object.keys(registry) as OperationId[]) {
    const handler = registry[operationId] as (r: OperationRequest<OperationId>, ctx: RequestContext) => Promise<Reply<OperationId> | StreamReply>;
    const replayStream = (handler as { replayStream?: StreamReplayer }).replayStream;
    const info = contract.operations.get(operationId);
    if (!info) throw new Error(`handler registered for ${operationId}, which the contract does not define`);
    runners.set(operationId, async (req, res, auth, request) => {
      const body = request.body as unknown;
      const state = requestState(res);
      let log: RequestContext['log'] | undefined;
      const ctx: RequestContext = {
        requestId: state.requestId,
        operationId,
        method: req.method!,
        path: req.path,
        ip: req.ip,
        auth,
        // Made on first use: most requests log nothing, and a pino child costs its bindings' serialization.
        get log() {
          return (log ??= deps.log.child({ request_id: state.requestId, operation: operationId }));
        },
        deps,
      };

      /** A write that raced the deletion of its account fails on a foreign key: for the caller, a 401. */
      const accountGoneOr = async (err: unknown): Promise<unknown> =>
        ctx.auth && isForeignKeyViolation(err) && !(await accountExists(deps.db, ctx.auth.userId)) ? accountGone() : err;

      const run = async (): Promise<StoredResponse | StreamReply> => {
        try {
          const reply = await handler(request, ctx);
          if (reply.status === 'stream') return reply as StreamReply;
          const r = reply as unknown as { status: number; body: unknown; headers?: Record<string, string>; contentType?: string; replayBody?: unknown };
          if (r.contentType) state.contentType = r.contentType;
          return { status: r.status, body: r.body, headers: r.headers ?? {}, ...(r.replayBody !== undefined ? { replayBody: r.replayBody } : {}) };
        } catch (caught) {
          const err = await accountGoneOr(caught);
          // Business errors are answers like any other, so an idempotent retry replays them too.
          if (err instanceof DomainError && statusOf(err) < 500 && statusOf(err) !== 429) {
            state.errorCode = err.code;
            return { status: statusOf(err), body: errorBody(err, ctx.requestId), headers: headersOf(err) ?? {} };
          }
          throw err;
        }
      };

      const key = req.headers['idempotency-key'];
      let result: (StoredResponse & { replayed?: boolean }) | StreamReply;
      if (typeof key === 'string' && info.idempotent && ctx.auth) {
        let streamed = false;
        const claimKey = (execute: () => Promise<StoredResponse>) =>
          withIdempotency(deps.db, { userId: ctx.auth!.userId, key, method: req.method!, path: req.path, body }, config.IDEMPOTENCY_TTL_HOURS, execute).catch(async (err: unknown) => {
            throw await accountGoneOr(err); // the key's row references the user too
          });
        result = await claimKey(async () => {
          const r = await run();
          if (r.status !== 'stream') return r as StoredResponse;
          // The stream is written here, inside the claim; its final JSON answer is what a retry
          // with this key gets. A failed stream counts as a 5xx: the key is released.
          streamed = true;
          const final = await (r as StreamReply).write(res);
          return final ? { status: final.status, body: final.body, headers: {} } : { status: 500, body: null, headers: {} };
        });
        // Ended only now, after the answer is stored: a retry can never find the key still in flight
        // once the client has seen the end of the stream.
        if (streamed) return void (res.writableEnded || res.end());
      } else {
        result = await run();
      }

      if (result.status === 'stream') {
        await (result as StreamReply).write(res);
        if (!res.writableEnded) res.end();
        return;
      }
      const stored = result as StoredResponse & { replayed?: boolean };
      if (stored.replayed) {
        res.setHeader('Idempotent-Replayed', 'true');
        if (stored.status < 300 && replayStream?.(stored, request.headers, res)) return;
      }
      writeStored(res, stored, state.contentType);
    });
  }

  return async (req, res) => {
    // HEAD is GET without the body (Node drops what is written): same operation, status and headers.
    const match = route(req.method === 'HEAD' ? 'GET' : req.method!, req.path);
    if (match.kind === 'not-found') throw new AppError('NOT_FOUND', `No operation at ${req.method} ${req.path}`);
    if (match.kind === 'method-not-allowed') {
      res.setHeader('Allow', match.allow.join(', '));
      throw new AppError('METHOD_NOT_ALLOWED', `${req.method} is not allowed on ${req.path}`);
    }
    const { operationId } = match;
    const info = contract.operations.get(operationId)!;
    requestState(res).operationId = operationId;
    if (hasBodyBytes(req) && !isJson(req) && info.hasBody) {
      throw new AppError('UNSUPPORTED_MEDIA_TYPE', 'Send the body as application/json');
    }
    const dep = deprecations.get(operationId);
    if (dep) for (const [k, v] of Object.entries(dep)) res.setHeader(k, v);

    if (info.authenticated) varyOn(res, 'Authorization'); // also on its 401
    const auth = info.authenticated ? await authenticate(req) : null;
    if (auth) requestState(res).userId = auth.userId;
    if (info.rateLimit !== 'none') {
      const state = await deps.rateLimits.consume(info.rateLimit, rateLimitKey(info.rateLimit, req, auth?.userId));
      for (const [k, v] of Object.entries(rateLimitHeaders(state))) res.setHeader(k, v);
    }
    // Validation comes next: first what it would choke on, and what PostgreSQL cannot store.
    const body: unknown = req.body;
    assertStorableJson(body);

    const contentType = String(req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
    const parts: RequestParts = { path: match.params, query: { ...req.query }, header: req.headers };
    // A body is validated when one was sent as JSON; without one, a required body is reported missing.
    if (typeof body === 'object' || contentType === 'application/json') parts.requestBody = body;
    const errors = validation.validate(operationId, parts);
    if (errors) {
      if (isIdempotencyKeyMissing(errors)) {
        throw new AppError('IDEMPOTENCY_KEY_REQUIRED', 'This request needs an Idempotency-Key header', [
          { field: 'header.idempotency-key', message: 'is required' },
        ]);
      }
      throw validationError(toDetails(errors));
    }
    if (!info.hasBody && body !== undefined && !(typeof body === 'object' && body !== null && !Array.isArray(body) && Object.keys(body).length === 0)) {
      throw validationError([{ field: 'body', message: 'this operation takes no body' }]);
    }
    // Query and path values were coerced to their declared types by validation.
    const request: OperationRequest<OperationId> = {
      body: body as never,
      params: parts.path as never,
      query: parts.query as never,
      headers: req.headers as Record<string, string | undefined>,
      rawBody: req.rawBody,
    };
    await runners.get(operationId)!(req, res, auth, request);
  };
}
