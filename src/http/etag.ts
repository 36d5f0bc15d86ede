import { AppError } from './errors.js';

/** `ETag: "<version>"` for a versioned resource. */
export const etag = (version: number): Record<string, string> => ({ ETag: `"${version}"` });

/** The version an `If-Match: "<n>"` header names (weak tags accepted), or undefined without one. */
export function ifMatchVersion(header: string | undefined): number | undefined {
  if (header === undefined) return undefined;
  const m = /^(?:W\/)?"(\d{1,9})"$/.exec(header.trim());
  if (!m) throw new AppError('VALIDATION_ERROR', 'If-Match must be a quoted version such as "3"', { details: [{ field: 'header.if-match', message: 'must be a quoted version such as "3"' }] });
  return Number(m[1]);
}
