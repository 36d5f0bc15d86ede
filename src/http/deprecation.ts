import type { Contract } from '../core/contract.js';
import type { OperationId } from './operation.js';

const DAY_MS = 86_400_000;
export const MIN_SUNSET_NOTICE_DAYS = 90;

/**
 * `Deprecation` (RFC 9745, a structured date `@<unix seconds>`) and `Sunset` (RFC 8594, an HTTP date)
 * headers for every operation the contract marks `deprecated: true`, from its `x-deprecated-at` and
 * `x-sunset`. A contract that gives less than 90 days' notice fails at start-up.
 */
export function deprecationHeaders(contract: Contract): Map<OperationId, Record<string, string>> {
  const headers = new Map<OperationId, Record<string, string>>();
  for (const op of contract.operations.values()) {
    if (!op.deprecated) continue;
    if (!op.deprecatedAt || !op.sunset) {
      throw new Error(`${op.operationId} is deprecated but lacks x-deprecated-at or x-sunset`);
    }
    const since = Date.parse(`${op.deprecatedAt}T00:00:00Z`);
    const sunset = Date.parse(`${op.sunset}T00:00:00Z`);
    if (Number.isNaN(since) || Number.isNaN(sunset)) throw new Error(`${op.operationId}: x-deprecated-at and x-sunset must be YYYY-MM-DD dates`);
    if (sunset - since < MIN_SUNSET_NOTICE_DAYS * DAY_MS) {
      throw new Error(`${op.operationId}: the sunset must be at least ${MIN_SUNSET_NOTICE_DAYS} days after the deprecation`);
    }
    headers.set(op.operationId, { Deprecation: `@${since / 1000}`, Sunset: new Date(sunset).toUTCString() });
  }
  return headers;
}
