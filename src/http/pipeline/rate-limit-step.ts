import type { ServerResponse } from 'node:http';
import type { RateLimitBucket } from '../../core/contract.js';
import { rateLimitKey, type RateLimitState, type RateLimits } from '../rate-limit.js';

type Bucket = Exclude<RateLimitBucket, 'none'>;

/**
 * Step 4: counts the request against its bucket (a 429 when exhausted). Returns the limiter's own
 * promise, so the hot path awaits nothing more than before.
 */
export function countRequest(rateLimits: RateLimits, bucket: Bucket, who: { ip: string; path: string; userId?: string }): Promise<RateLimitState> {
  return rateLimits.consume(bucket, rateLimitKey(bucket, who, who.userId));
}

/** The X-RateLimit-* headers of a counted request (a 429 carries its own). */
export function writeRateLimitHeaders(res: ServerResponse, s: RateLimitState): void {
  res.setHeader('X-RateLimit-Limit', String(s.limit));
  res.setHeader('X-RateLimit-Remaining', String(s.remaining));
  res.setHeader('X-RateLimit-Reset', String(s.resetSeconds));
}
