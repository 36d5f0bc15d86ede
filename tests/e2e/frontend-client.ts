import { randomUUID } from 'node:crypto';
import { expect } from 'vitest';
import type { z } from 'zod';
import type { ApiResponse, TestClient } from '../helpers/client.js';

// The production frontend's transport (frontend-contract.md §1), replayed through TestClient so that
// every answer is also checked against openapi.yaml:
// * `Content-Type: application/json` on every request, GETs and body-less DELETEs included;
// * `Authorization: Bearer <auth_token>` when a token is stored;
// * a fresh `Idempotency-Key` UUID on every POST, PUT, PATCH and DELETE, auth endpoints included;
// * the browser's `Origin`, and a CORS preflight before the first request of each method + URL
//   (the browser caches preflights per URL for Access-Control-Max-Age).

export const FRONTEND_ORIGIN = 'http://localhost:3000';
const MUTATIONS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

export interface Preflight {
  method: string;
  endpoint: string;
  status: number;
}

/** `ApiError`'s code as the client builds it: top level first, then under `error`. */
export const frontendErrorCode = (body: any): string => body?.code || body?.error?.code || 'UNKNOWN_ERROR';

export class FrontendClient {
  /** localStorage `auth_token` / `refresh_token`. */
  authToken: string | null = null;
  refreshToken: string | null = null;
  readonly preflights: Preflight[] = [];
  /** Every request sent, as `METHOD endpoint → status`, in order. */
  readonly log: string[] = [];
  private readonly preflighted = new Set<string>();

  constructor(private readonly api: TestClient) {}

  /** The OPTIONS request the browser sends first; asserts it lets the real request through. */
  private async preflight(method: string, endpoint: string, requestHeaders: string[]): Promise<void> {
    const key = `${method} ${endpoint}`;
    if (this.preflighted.has(key)) return;
    // Raw fetch: the preflight is answered by the CORS layer, not by an operation of the contract.
    const res = await fetch(new URL(`/api/v1${endpoint}`, this.api.baseUrl), {
      method: 'OPTIONS',
      headers: {
        origin: FRONTEND_ORIGIN,
        'access-control-request-method': method,
        'access-control-request-headers': requestHeaders.join(','),
      },
    });
    await res.arrayBuffer();
    this.preflights.push({ method, endpoint, status: res.status });
    expect(res.status, `preflight ${key}`).toBeGreaterThanOrEqual(200);
    expect(res.status, `preflight ${key}`).toBeLessThan(300);
    expect(res.headers.get('access-control-allow-origin'), `preflight ${key}: allowed origin`).toBe(FRONTEND_ORIGIN);
    const methods = (res.headers.get('access-control-allow-methods') ?? '').split(',').map((m) => m.trim().toUpperCase());
    expect(methods, `preflight ${key}: allowed methods`).toContain(method);
    const allowed = (res.headers.get('access-control-allow-headers') ?? '').split(',').map((h) => h.trim().toLowerCase());
    for (const h of requestHeaders) expect(allowed, `preflight ${key}: allowed headers`).toContain(h);
    this.preflighted.add(key);
  }

  /**
   * One `apiClient` request: `endpoint` is relative to /api/v1 and may carry a query string. A body
   * of `undefined` sends no body (the Content-Type header is still sent).
   */
  async send(method: string, endpoint: string, body?: unknown): Promise<ApiResponse> {
    const headers: Record<string, string> = { 'content-type': 'application/json', origin: FRONTEND_ORIGIN };
    if (this.authToken) headers.authorization = `Bearer ${this.authToken}`;
    if (MUTATIONS.has(method)) headers['idempotency-key'] = randomUUID();
    // What the browser lists in Access-Control-Request-Headers: the non-safelisted ones, sorted.
    await this.preflight(method, endpoint, Object.keys(headers).filter((h) => h !== 'origin').sort());
    const res = await this.api.request(method, endpoint, { token: null, headers, body });
    this.log.push(`${method} ${endpoint} → ${res.status}`);
    // Without the header on the real response the browser hands the page a network error.
    expect(res.headers.get('access-control-allow-origin'), `${method} ${endpoint}: CORS on the response`).toBe(FRONTEND_ORIGIN);
    return res;
  }

  /**
   * A 2xx answer as `handleResponse` treats it: `response.json()` (an empty body throws), then
   * `schema.parse` — a mismatch is a ZodError in the UI, so it fails here with the issues.
   */
  async call<S extends z.ZodType>(method: string, endpoint: string, body: unknown, schema: S): Promise<z.output<S>> {
    const res = await this.send(method, endpoint, body);
    return parseAsFrontend(res, schema, `${method} ${endpoint}`);
  }

  get<S extends z.ZodType>(endpoint: string, schema: S) {
    return this.call('GET', endpoint, undefined, schema);
  }
}

export function parseAsFrontend<S extends z.ZodType>(res: ApiResponse, schema: S, what: string): z.output<S> {
  expect(res.status, `${what}: ${res.text.slice(0, 500)}`).toBeGreaterThanOrEqual(200);
  expect(res.status, `${what}: ${res.text.slice(0, 500)}`).toBeLessThan(300);
  let json: unknown;
  try {
    json = JSON.parse(res.text);
  } catch (err) {
    throw new Error(`${what}: response.json() throws on a ${res.status} with body ${JSON.stringify(res.text)}: ${(err as Error).message}`, { cause: err });
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) throw new Error(`${what}: the frontend's schema rejects the body:\n${JSON.stringify(parsed.error.issues, null, 1)}\n${res.text.slice(0, 1500)}`);
  return parsed.data;
}
