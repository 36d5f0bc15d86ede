import { randomUUID } from 'node:crypto';
import { assertMatchesContract } from './contract.js';

export interface ApiResponse<T = any> {
  status: number;
  headers: Headers;
  body: T;
  /** The raw text, for non-JSON answers. */
  text: string;
}

export interface RequestOptions {
  token?: string | null;
  body?: unknown;
  /** Sent as-is instead of JSON-encoding `body`. */
  rawBody?: string | Buffer;
  headers?: Record<string, string>;
  /** A fixed key; `null` sends none. By default authenticated POST/PATCH/PUT get a fresh one. */
  idempotencyKey?: string | null;
  query?: Record<string, string | number | boolean | undefined>;
  /**
   * How long to read an event stream (text/event-stream) before hanging up: a live stream never
   * ends by itself. 300 ms by default for GET; a POST's stream is read to its end unless this is set.
   */
  streamMs?: number;
  /** Skip the contract check (only for requests that deliberately leave the contract, e.g. a raw socket). */
  unchecked?: boolean;
}

/**
 * The only way tests talk to the API over HTTP. Every response is checked against openapi.yaml, so a
 * response that drifts from the contract fails the test that saw it.
 */
export class TestClient {
  constructor(readonly baseUrl: string, public token: string | null = null) {}

  as(token: string | null): TestClient {
    return new TestClient(this.baseUrl, token);
  }

  async request<T = any>(method: string, path: string, opts: RequestOptions = {}): Promise<ApiResponse<T>> {
    const url = new URL(path.startsWith('/api/') || path.startsWith('/health') || path === '/metrics' ? path : `/api/v1${path}`, this.baseUrl);
    for (const [k, v] of Object.entries(opts.query ?? {})) if (v !== undefined) url.searchParams.set(k, String(v));
    const headers: Record<string, string> = { ...opts.headers };
    const token = opts.token === undefined ? this.token : opts.token;
    if (token) headers.authorization = `Bearer ${token}`;
    let body: string | Buffer | undefined;
    if (opts.rawBody !== undefined) body = opts.rawBody;
    else if (opts.body !== undefined) {
      body = JSON.stringify(opts.body);
      headers['content-type'] ??= 'application/json';
    }
    if (opts.idempotencyKey !== null && ['POST', 'PATCH', 'PUT'].includes(method) && token && !url.pathname.includes('/auth/')) {
      headers['idempotency-key'] ??= opts.idempotencyKey ?? randomUUID();
    } else if (typeof opts.idempotencyKey === 'string') {
      headers['idempotency-key'] = opts.idempotencyKey;
    }
    const res = await fetch(url, { method, headers, body });
    const contentType = res.headers.get('content-type');
    // A live stream (GET /events) never ends by itself; the chat's streams (POST) do, and are read whole.
    const live = contentType?.startsWith('text/event-stream') && (method === 'GET' || opts.streamMs !== undefined);
    const text = live && res.body ? await readFor(res.body, opts.streamMs ?? 300) : await res.text();
    let parsed: unknown = text;
    if (contentType?.includes('json') && text) parsed = JSON.parse(text);
    else if (!text) parsed = undefined;
    if (!opts.unchecked) {
      const apiPath = url.pathname.replace(/^\/api\/v1/, '') || '/';
      const contractPath = url.pathname.startsWith('/api/v1') ? apiPath : url.pathname;
      assertMatchesContract(method, contractPath, res.status, contentType, parsed);
    }
    return { status: res.status, headers: res.headers, body: parsed as T, text };
  }

  get<T = any>(path: string, opts?: RequestOptions) {
    return this.request<T>('GET', path, opts);
  }
  post<T = any>(path: string, body?: unknown, opts?: RequestOptions) {
    return this.request<T>('POST', path, { ...opts, body });
  }
  patch<T = any>(path: string, body?: unknown, opts?: RequestOptions) {
    return this.request<T>('PATCH', path, { ...opts, body });
  }
  put<T = any>(path: string, body?: unknown, opts?: RequestOptions) {
    return this.request<T>('PUT', path, { ...opts, body });
  }
  delete<T = any>(path: string, opts?: RequestOptions) {
    return this.request<T>('DELETE', path, opts);
  }
}

/** What a stream sends within `ms` (or until it ends); then the connection is dropped. */
async function readFor(body: ReadableStream<Uint8Array>, ms: number): Promise<string> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let text = '';
  const deadline = Date.now() + ms;
  for (;;) {
    const left = deadline - Date.now();
    if (left <= 0) break;
    let timer: NodeJS.Timeout | undefined;
    const next = await Promise.race([reader.read(), new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), left)))]);
    clearTimeout(timer);
    if (next === 'timeout' || next.done) break;
    text += decoder.decode(next.value, { stream: true });
  }
  await reader.cancel().catch(() => {});
  return text;
}
