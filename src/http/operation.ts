import type { ServerResponse } from 'node:http';
import type { operations } from '../../codegen/api.js';
import type { AppDeps } from '../deps.js';
import type { AuthContext } from '../domain/auth/access-tokens.js';
import type { Logger } from '../core/logging.js';

// Handler types derived from the generated contract types, so a handler that returns a body the
// contract does not declare, or misses an operation, fails the typecheck.

export type OperationId = keyof operations;
type Op<O extends OperationId> = operations[O];

type ContentOf<T> = T extends { content: infer C } ? C[keyof C] : undefined;
export type RequestBody<O extends OperationId> = Op<O> extends { requestBody: infer RB }
  ? ContentOf<RB>
  : Op<O> extends { requestBody?: infer RB }
    ? ContentOf<NonNullable<RB>> | undefined
    : undefined;
export type PathParams<O extends OperationId> = Op<O>['parameters'] extends { path: infer P } ? P : Record<string, never>;
export type QueryParams<O extends OperationId> = Op<O>['parameters'] extends { query?: infer Q } ? NonNullable<Q> : Record<string, never>;

type Responses<O extends OperationId> = Op<O>['responses'];
// Any status the contract declares; errors are normally thrown as AppError, but an operation such
// as the readiness probe answers 503 with its own documented body.
type DeclaredStatus<O extends OperationId> = Extract<keyof Responses<O>, number>;
export type SuccessBody<O extends OperationId, S extends keyof Responses<O>> = ContentOf<Responses<O>[S]>;

export type Reply<O extends OperationId> = {
  [S in DeclaredStatus<O>]: {
    status: S;
    body: SuccessBody<O, S>;
    headers?: Record<string, string>;
    /** Defaults to application/json. */
    contentType?: string;
    /** Stored for an idempotent replay instead of `body` (see StoredResponse.replayBody). */
    replayBody?: SuccessBody<O, S>;
  };
}[DeclaredStatus<O>];

/** A response the handler writes itself (server-sent events). */
export interface StreamReply {
  status: 'stream';
  /**
   * Writes the whole stream but does not end the response: the dispatcher ends it after storing the
   * answer. Resolves with the JSON answer the stream amounted to, which is stored under the
   * request's Idempotency-Key like any answer; or with null when the stream failed, so nothing is
   * stored and the key may be retried.
   */
  write(res: ServerResponse): Promise<{ status: number; body: unknown } | null>;
}

/**
 * Writes a stored answer as a stream again, for a retry (same Idempotency-Key) that asks for the
 * stream; returns false to let the stored JSON be sent instead.
 */
export type StreamReplayer = (stored: { status: number; body: unknown }, headers: Record<string, string | undefined>, res: ServerResponse) => boolean;

/** A handler whose operation can stream: `replayStream` renders its stored answers as a stream. */
export const streamingHandler = <O extends OperationId>(handler: Handler<O>, replayStream: StreamReplayer): Handler<O> & { replayStream: StreamReplayer } =>
  Object.assign(handler, { replayStream });

export interface OperationRequest<O extends OperationId> {
  body: RequestBody<O>;
  params: PathParams<O>;
  query: QueryParams<O>;
  headers: Record<string, string | undefined>;
  /** The raw body bytes, kept only for operations that verify a signature over them. */
  rawBody?: Buffer;
}

export interface RequestContext {
  requestId: string;
  operationId: OperationId;
  method: string;
  path: string;
  ip: string;
  /** Set for every operation that requires bearer auth. */
  auth: AuthContext | null;
  log: Logger;
  deps: AppDeps;
}

export type Handler<O extends OperationId> = (req: OperationRequest<O>, ctx: RequestContext) => Promise<Reply<O> | StreamReply>;

/** One handler per operation of the contract: a missing or extra operation id fails the typecheck. */
export type HandlerRegistry = { [O in OperationId]: Handler<O> };

/** The authenticated caller; only call it from operations that require bearer auth. */
export function caller(ctx: RequestContext): AuthContext {
  if (!ctx.auth) throw new Error(`operation ${ctx.operationId} used caller() without bearer auth`);
  return ctx.auth;
}
