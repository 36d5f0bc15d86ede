import { createHash } from 'node:crypto';
import type pg from 'pg';
import { RateLimiterMemory, RateLimiterPostgres, RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible';
import type { Config } from '../config.js';
import { AppError } from './errors.js';
import type { RateLimitBucket } from '../core/contract.js';

export interface RateLimitState {
  limit: number;
  remaining: number;
  /** Seconds until the window resets. */
  resetSeconds: number;
}

export interface RateLimits {
  /** Counts one request (or `points` of them); throws a 429 AppError (with headers) when the bucket is exhausted. */
  consume(bucket: Exclude<RateLimitBucket, 'none'>, key: string, points?: number): Promise<RateLimitState>;
}

export const rateLimitHeaders = (s: RateLimitState): Record<string, string> => ({
  'X-RateLimit-Limit': String(s.limit),
  'X-RateLimit-Remaining': String(s.remaining),
  'X-RateLimit-Reset': String(s.resetSeconds),
});

/** What a request counts against in `bucket`: see RateLimitBucket. A URL is hashed, since a feed's URL is its secret. */
export function rateLimitKey(bucket: Exclude<RateLimitBucket, 'none'>, req: { ip: string; path: string }, userId: string | undefined): string {
  if (bucket === 'calendar-feed') return `url:${createHash('sha256').update(req.path).digest('base64url')}`;
  return bucket === 'auth' || bucket === 'webhook' || !userId ? `ip:${req.ip}` : `user:${userId}`;
}

/**
 * Fixed-window limits per bucket (RATE_LIMIT_GENERAL / _AI / _AUTH / _WEBHOOK / _CALENDAR_FEED per
 * RATE_LIMIT_WINDOW_SECONDS).
 * The memory store serves one process; RATE_LIMIT_STORE=postgres keeps the counters in the shared
 * database (table rate_limits) so the limits hold across every API process.
 */
export function createRateLimits(config: Config, pool: pg.Pool): RateLimits {
  const duration = config.RATE_LIMIT_WINDOW_SECONDS;
  const points = {
    general: config.RATE_LIMIT_GENERAL,
    ai: config.RATE_LIMIT_AI,
    auth: config.RATE_LIMIT_AUTH,
    webhook: config.RATE_LIMIT_WEBHOOK,
    'calendar-feed': config.RATE_LIMIT_CALENDAR_FEED,
  };
  const make = (bucket: keyof typeof points): RateLimiterAbstract =>
    config.RATE_LIMIT_STORE === 'postgres'
      ? new RateLimiterPostgres({
          storeClient: pool,
          storeType: 'pool',
          tableName: 'rate_limits',
          tableCreated: true,
          keyPrefix: bucket,
          points: points[bucket],
          duration,
        })
      : new RateLimiterMemory({ keyPrefix: bucket, points: points[bucket], duration });
  const limiters = { general: make('general'), ai: make('ai'), auth: make('auth'), webhook: make('webhook'), 'calendar-feed': make('calendar-feed') };

  return {
    async consume(bucket, key, count = 1) {
      const limit = points[bucket];
      try {
        const res = await limiters[bucket].consume(key, count);
        return { limit, remaining: res.remainingPoints, resetSeconds: Math.ceil(res.msBeforeNext / 1000) };
      } catch (res) {
        if (!(res instanceof RateLimiterRes)) throw res;
        const retryAfter = Math.max(1, Math.ceil(res.msBeforeNext / 1000));
        throw new AppError('RATE_LIMIT_EXCEEDED', 'Too many requests', {
          extras: { retry_after: retryAfter },
          headers: { ...rateLimitHeaders({ limit, remaining: 0, resetSeconds: retryAfter }), 'Retry-After': String(retryAfter) },
        });
      }
    },
  };
}
