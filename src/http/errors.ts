import type { components } from '../../codegen/api.js';

export type ErrorCode = components['schemas']['ErrorCode'];
export type ErrorDetail = components['schemas']['ErrorDetail'];
type ErrorBody = components['schemas']['ErrorResponse']['error'];
/** The documented extra keys an error may carry (`current_version`, `retry_after`, …). */
export type ErrorExtras = Omit<ErrorBody, 'code' | 'message' | 'details' | 'request_id'>;

/** The contract's bounds on error texts (ErrorResponse.message, ErrorDetail.field and .message). */
const MAX_MESSAGE = 2000;
const MAX_FIELD = 300;
/** Cuts text that may echo the request (an unknown field's name, a path) to `max` code points. */
const clip = (text: string, max: number): string => {
  const chars = [...text];
  return chars.length <= max ? text : `${chars.slice(0, max - 1).join('')}…`;
};

/**
 * The one error type of the service. Domain code throws it; the HTTP layer turns it into the
 * `{error: {...}}` envelope with the request id. Anything else that escapes is a 500.
 */
export class AppError extends Error {
  constructor(
    readonly status: number,
    readonly code: ErrorCode,
    message: string,
    readonly details?: ErrorDetail[],
    readonly extras?: ErrorExtras,
    /** Response headers that belong to this error (Retry-After, WWW-Authenticate). */
    readonly headers?: Record<string, string>,
  ) {
    super(message);
    this.name = 'AppError';
  }

  toBody(requestId: string): { error: ErrorBody } {
    return {
      error: {
        code: this.code,
        message: clip(this.message, MAX_MESSAGE),
        ...(this.details?.length ? { details: this.details.map((d) => ({ field: clip(d.field, MAX_FIELD), message: clip(d.message, MAX_MESSAGE) })) } : {}),
        ...this.extras,
        request_id: requestId,
      },
    };
  }
}

export const validationError = (details: ErrorDetail[], message = 'Request validation failed') =>
  new AppError(400, 'VALIDATION_ERROR', message, details);
/** A 400 about one field, for rules the contract cannot express. */
export const invalidField = (field: string, message: string) =>
  new AppError(400, 'VALIDATION_ERROR', message, [{ field, message }]);
export const unauthorized = (message = 'Authentication required') =>
  new AppError(401, 'UNAUTHORIZED', message, undefined, undefined, { 'WWW-Authenticate': 'Bearer' });
/** A valid access token whose account was deleted: the session is over. */
export const accountGone = () => unauthorized('The account no longer exists');
/** A valid access token whose session ended (logout, a refresh token reused, a newer sign-in). */
export const sessionEnded = () => unauthorized('The session has ended; sign in again');
/**
 * A write that began just before its account was deleted fails on a foreign key once the deletion
 * commits (to users, or to a task that went with the account): a candidate for a 401, if the
 * caller's account is indeed gone (see the dispatcher).
 */
export const isForeignKeyViolation = (err: unknown): boolean =>
  typeof err === 'object' && err !== null && (err as { code?: unknown }).code === '23503';
/** The database cannot be reached or has no free connection: the request may be retried. */
export const databaseUnavailable = () =>
  new AppError(503, 'SERVICE_UNAVAILABLE', 'The service is temporarily unavailable; retry shortly', undefined, undefined, { 'Retry-After': '5' });

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
export const forbidden = (message = 'This resource belongs to another user') => new AppError(403, 'FORBIDDEN', message);
export const tierRequired = (currentTier: 'free' | 'pro', message = 'This feature needs Pro') =>
  new AppError(403, 'TIER_REQUIRED', message, undefined, { required_tier: 'pro', current_tier: currentTier });
export const notFound = (what = 'Resource') => new AppError(404, 'NOT_FOUND', `${what} not found`);
export const conflict = (message: string, extras?: ErrorExtras) => new AppError(409, 'CONFLICT', message, undefined, extras);
export const limitExceeded = (message: string, limit: number) =>
  new AppError(409, 'LIMIT_EXCEEDED', message, undefined, { limit });
export const archived = (message = 'The task is archived; un-archive it first') => new AppError(409, 'ARCHIVED', message);
export const serviceUnavailable = (code: Extract<ErrorCode, `${string}UNAVAILABLE`>, message: string) =>
  new AppError(503, code, message);
export const notImplemented = (issue: number) =>
  new AppError(501, 'NOT_IMPLEMENTED', `This operation is not implemented yet (issue #${issue})`);
