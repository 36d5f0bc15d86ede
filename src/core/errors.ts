import type { components } from '../../codegen/api.js';

/** The catalogue of error codes (SPEC §3, the contract's ErrorCode). */
export type ErrorCode = components['schemas']['ErrorCode'];
export type ErrorDetail = components['schemas']['ErrorDetail'];
type ErrorBody = components['schemas']['ErrorResponse']['error'];
/** The documented extra keys an error may carry (`current_version`, `retry_after`, …). */
export type ErrorExtras = Omit<ErrorBody, 'code' | 'message' | 'details' | 'request_id'>;

/**
 * A refusal as data: a code from the catalogue, a message for the client, the fields at fault and
 * the documented extras. It names no status: the layer that answers (src/http/errors.ts) maps the
 * code to one. Anything else that escapes a use case is a 500.
 */
export class DomainError extends Error {
  readonly details?: ErrorDetail[];
  readonly extras?: ErrorExtras;
  /** The caller should authenticate with a bearer token (HTTP answers with that challenge). */
  readonly challenge?: 'bearer';

  constructor(
    readonly code: ErrorCode,
    message: string,
    more: { details?: ErrorDetail[]; extras?: ErrorExtras; challenge?: 'bearer' } = {},
  ) {
    super(message);
    this.name = 'DomainError';
    this.details = more.details;
    this.extras = more.extras;
    this.challenge = more.challenge;
  }
}

export const validationError = (details: ErrorDetail[], message = 'Request validation failed') =>
  new DomainError('VALIDATION_ERROR', message, { details });
/** A 400 about one field, for rules the contract cannot express. */
export const invalidField = (field: string, message: string) =>
  new DomainError('VALIDATION_ERROR', message, { details: [{ field, message }] });
export const unauthorized = (message = 'Authentication required') =>
  new DomainError('UNAUTHORIZED', message, { challenge: 'bearer' });
/** A valid access token whose account was deleted: the session is over. */
export const accountGone = () => unauthorized('The account no longer exists');
/** A valid access token whose session ended (logout, a refresh token reused, a newer sign-in). */
export const sessionEnded = () => unauthorized('The session has ended; sign in again');
/** A personal access token without every scope the operation needs. */
export const insufficientScope = (required: readonly string[], missing: readonly string[]) =>
  new DomainError('INSUFFICIENT_SCOPE', `This personal access token lacks the scope${missing.length > 1 ? 's' : ''} ${missing.join(', ')}`, {
    extras: { required_scopes: [...required] as NonNullable<ErrorExtras['required_scopes']> },
  });
/** A personal access token on an operation that never accepts one (tokens, the account, billing). */
export const tokenNotAllowed = () => new DomainError('TOKEN_NOT_ALLOWED', 'Personal access tokens cannot be used for this operation');
export const forbidden = (message = 'This resource belongs to another user') => new DomainError('FORBIDDEN', message);
export const tierRequired = (currentTier: 'free' | 'pro', message = 'This feature needs Pro') =>
  new DomainError('TIER_REQUIRED', message, { extras: { required_tier: 'pro', current_tier: currentTier } });
export const notFound = (what = 'Resource') => new DomainError('NOT_FOUND', `${what} not found`);
export const conflict = (message: string, extras?: ErrorExtras) => new DomainError('CONFLICT', message, { extras });
export const limitExceeded = (message: string, limit: number) =>
  new DomainError('LIMIT_EXCEEDED', message, { extras: { limit } });
export const archived = (message = 'The task is archived; un-archive it first') => new DomainError('ARCHIVED', message);
export const serviceUnavailable = (code: Extract<ErrorCode, `${string}UNAVAILABLE`>, message: string) =>
  new DomainError(code, message);
export const notImplemented = (issue: number) =>
  new DomainError('NOT_IMPLEMENTED', `This operation is not implemented yet (issue #${issue})`);
