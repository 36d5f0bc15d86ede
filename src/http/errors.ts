import { DomainError, type ErrorCode, type ErrorDetail, type ErrorExtras } from '../core/errors.js';
import type { components } from '../../codegen/api.js';

export * from '../core/errors.js';
type ErrorBody = components['schemas']['ErrorResponse']['error'];

/** The contract's bounds on error texts (ErrorResponse.message, ErrorDetail.field and .message). */
const MAX_MESSAGE = 2000;
const MAX_FIELD = 300;
/** Cuts text that may echo the request (an unknown field's name, a path) to `max` code points. */
const clip = (text: string, max: number): string => {
  const chars = [...text];
  return chars.length <= max ? text : `${chars.slice(0, max - 1).join('')}…`;
};

/**
 * The one table from the catalogue to HTTP: each code answers with one status (SPEC §3). The
 * domain throws codes; only this layer knows what they mean on the wire.
 */
export const STATUS_OF_CODE: Record<ErrorCode, number> = {
  VALIDATION_ERROR: 400,
  IDEMPOTENCY_KEY_REQUIRED: 400,
  CONFIRMATION_MISMATCH: 400,
  UNAUTHORIZED: 401,
  TOKEN_EXPIRED: 401,
  INVALID_REFRESH_TOKEN: 401,
  INSUFFICIENT_CREDITS: 402,
  PAYMENT_DECLINED: 402,
  FORBIDDEN: 403,
  INSUFFICIENT_SCOPE: 403,
  TOKEN_NOT_ALLOWED: 403,
  TIER_REQUIRED: 403,
  NOT_FOUND: 404,
  METHOD_NOT_ALLOWED: 405,
  REQUEST_TIMEOUT: 408,
  CONFLICT: 409,
  LIMIT_EXCEEDED: 409,
  ARCHIVED: 409,
  IDEMPOTENCY_KEY_IN_USE: 409,
  PRECONDITION_FAILED: 412,
  PAYLOAD_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  EXPECTATION_FAILED: 417,
  IDEMPOTENCY_KEY_MISMATCH: 422,
  UPGRADE_REQUIRED: 426,
  RATE_LIMIT_EXCEEDED: 429,
  AI_TASK_LIMIT_REACHED: 429,
  REQUEST_HEADERS_TOO_LARGE: 431,
  INTERNAL_ERROR: 500,
  NOT_IMPLEMENTED: 501,
  SERVICE_UNAVAILABLE: 503,
  AI_SERVICE_UNAVAILABLE: 503,
  TRANSCRIPTION_SERVICE_UNAVAILABLE: 503,
  PAYMENT_SERVICE_UNAVAILABLE: 503,
};

/**
 * An error born in the HTTP layer (routing, media types, rate limits, the socket), which may carry
 * response headers of its own (Retry-After, Upgrade, a realm'd WWW-Authenticate).
 */
export class AppError extends DomainError {
  /** Response headers that belong to this error (Retry-After, WWW-Authenticate). */
  readonly headers?: Record<string, string>;

  constructor(code: ErrorCode, message: string, more: { details?: ErrorDetail[]; extras?: ErrorExtras; headers?: Record<string, string> } = {}) {
    super(code, message, more);
    this.name = 'AppError';
    this.headers = more.headers;
  }
}

export const statusOf = (err: DomainError): number => STATUS_OF_CODE[err.code];

/** The headers an error answers with: its own, or the challenge its code or its kind calls for. */
export function headersOf(err: DomainError): Record<string, string> | undefined {
  if (err instanceof AppError) return err.headers;
  if (err.code === 'TOKEN_EXPIRED') return { 'WWW-Authenticate': 'Bearer error="invalid_token", error_description="expired"' };
  if (err.challenge === 'bearer') return { 'WWW-Authenticate': 'Bearer' };
  return undefined;
}

/** The `{error: {...}}` envelope with the request id. */
export const errorBody = (err: DomainError, requestId: string): { error: ErrorBody } => ({
  error: {
    code: err.code,
    message: clip(err.message, MAX_MESSAGE),
    ...(err.details?.length ? { details: err.details.map((d) => ({ field: clip(d.field, MAX_FIELD), message: clip(d.message, MAX_MESSAGE) })) } : {}),
    ...err.extras,
    request_id: requestId,
  },
});

/**
 * A write that began just before its account was deleted fails on a foreign key once the deletion
 * commits (to users, or to a task that went with the account): a candidate for a 401, if the
 * caller's account is indeed gone (see the dispatcher).
 */
export const isForeignKeyViolation = (err: unknown): boolean =>
  typeof err === 'object' && err !== null && (err as { code?: unknown }).code === '23503';
/** The database cannot be reached or has no free connection: the request may be retried. */
export const databaseUnavailable = () =>
  new AppError('SERVICE_UNAVAILABLE', 'The service is temporarily unavailable; retry shortly', { headers: { 'Retry-After': '5' } });

const UNREACHABLE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN']);

/**
 * Errors that say the database is out of reach or out of connections, not that the request was
 * wrong: pg-pool's wait for a free connection timing out, a connection refused, reset or ended
 * (also by our query deadline, db/index.ts), and SQLSTATE classes 08 (connection exception), 53
 * (insufficient resources: too many connections) and 57P0x (server shutting down or starting).
 */
export function isDatabaseUnavailable(err: unknown): boolean {
  if (typeof err !== 'object' || err === null) return false;
  const { code, message } = err as { code?: unknown; message?: unknown };
  if (typeof code === 'string' && (UNREACHABLE_CODES.has(code) || code.startsWith('08') || code.startsWith('53') || /^57P0[1-3]$/.test(code))) return true;
  return typeof message === 'string' && /^(timeout exceeded when trying to connect|Connection terminated|The database did not answer within)/.test(message);
}
