import { describe, expect, it } from 'vitest';
import { countRequest, writeRateLimitHeaders } from '../../../src/http/pipeline/rate-limit-step.js';
import type { RateLimits } from '../../../src/http/rate-limit.js';
import { fakeResponse } from './fakes.js';

describe('pipeline step: rate limit', () => {
  it('counts a request against its bucket by user, or by client address', async () => {
    const seen: string[] = [];
    const limits: RateLimits = { consume: async (bucket, key) => (seen.push(`${bucket} ${key}`), { limit: 10, remaining: 9, resetSeconds: 60 }) };
    const req = { ip: '203.0.113.9', path: '/api/v1/tasks' };
    await countRequest(limits, 'general', { ...req, userId: 'user-1' });
    await countRequest(limits, 'general', { ...req });
    await countRequest(limits, 'auth', { ...req, userId: 'user-1' });
    expect(seen).toEqual(['general user:user-1', 'general ip:203.0.113.9', 'auth ip:203.0.113.9']);
  });

  it('passes the limiter\'s 429 on', async () => {
    const exhausted = new Error('429');
    const limits: RateLimits = { consume: () => Promise.reject(exhausted) };
    await expect(countRequest(limits, 'ai', { ip: '::1', path: '/api/v1/ai/chat', userId: 'u' })).rejects.toBe(exhausted);
  });

  it('writes the X-RateLimit headers of a counted request', () => {
    const out = fakeResponse();
    writeRateLimitHeaders(out.res, { limit: 100, remaining: 0, resetSeconds: 42 });
    expect(out.headers).toEqual({ 'X-RateLimit-Limit': '100', 'X-RateLimit-Remaining': '0', 'X-RateLimit-Reset': '42' });
    expect(Object.keys(out.headers)).toEqual(['X-RateLimit-Limit', 'X-RateLimit-Remaining', 'X-RateLimit-Reset']);
  });
});
