import type { IncomingMessage, ServerResponse } from 'node:http';

/**
 * The security headers every response carries, and CORS, over headers computed once: what helmet
 * (with the options this service used) and the cors package set, without their eleven middleware
 * calls and per-request option handling on every request (bench/fixes.md).
 */
const SECURITY_HEADERS: [string, string][] = [
  ['Content-Security-Policy', "default-src 'none';frame-ancestors 'none'"],
  ['Cross-Origin-Opener-Policy', 'same-origin'],
  ['Cross-Origin-Resource-Policy', 'cross-origin'],
  ['Origin-Agent-Cluster', '?1'],
  ['Referrer-Policy', 'no-referrer'],
  ['Strict-Transport-Security', 'max-age=31536000; includeSubDomains'],
  ['X-Content-Type-Options', 'nosniff'],
  ['X-DNS-Prefetch-Control', 'off'],
  ['X-Download-Options', 'noopen'],
  ['X-Frame-Options', 'DENY'],
  ['X-Permitted-Cross-Domain-Policies', 'none'],
  ['X-XSS-Protection', '0'],
];

/**
 * No cache keeps an answer (tokens, RFC 6749 §5.1; anything a bearer token unlocks), unless the
 * operation sets its own Cache-Control (the calendar feed's `private, no-cache`).
 */
const DEFAULT_CACHE_CONTROL = 'no-store';

/** The headers every answer carries whatever it is, also one written on a bare socket (refusals.ts). */
export const FIXED_HEADERS: readonly (readonly [string, string])[] = [...SECURITY_HEADERS, ['Cache-Control', DEFAULT_CACHE_CONTROL]];

/** Adds a request header the answer depends on to `Vary`, keeping those already named. */
export function varyOn(res: ServerResponse, header: string): void {
  const current = res.getHeader('Vary');
  res.setHeader('Vary', current ? `${String(current)}, ${header}` : header);
}

const CORS_METHODS = 'GET,POST,PUT,PATCH,DELETE';
const CORS_ALLOWED_HEADERS = 'Authorization,Content-Type,Idempotency-Key,If-Match,X-Request-ID';
const CORS_EXPOSED_HEADERS =
  'X-Request-ID,X-RateLimit-Limit,X-RateLimit-Remaining,X-RateLimit-Reset,Retry-After,ETag,Deprecation,Sunset,Idempotent-Replayed';
const CORS_MAX_AGE = '600';

/**
 * Security headers on every response; CORS for the configured origins (`*` allows any). A preflight
 * (OPTIONS) is answered here with 204, the methods and headers the frontend sends, cached 10
 * minutes: then it answers false, the request is done.
 */
export function responseHeaders(corsOrigins: readonly string[]): (req: IncomingMessage, res: ServerResponse) => boolean {
  const anyOrigin = corsOrigins.includes('*');
  const allowed = new Set(corsOrigins);
  return (req, res) => {
    for (const [name, value] of FIXED_HEADERS) res.setHeader(name, value);
    const origin = req.headers.origin;
    if (anyOrigin) res.setHeader('Access-Control-Allow-Origin', '*');
    else {
      res.setHeader('Vary', 'Origin');
      if (origin !== undefined && allowed.has(origin)) res.setHeader('Access-Control-Allow-Origin', origin);
    }
    res.setHeader('Access-Control-Expose-Headers', CORS_EXPOSED_HEADERS);
    if (req.method === 'OPTIONS') {
      res.setHeader('Access-Control-Allow-Methods', CORS_METHODS);
      res.setHeader('Access-Control-Allow-Headers', CORS_ALLOWED_HEADERS);
      res.setHeader('Access-Control-Max-Age', CORS_MAX_AGE);
      res.statusCode = 204;
      res.setHeader('Content-Length', '0');
      res.end();
      return false;
    }
    return true;
  };
}
