import createClient, { type Client, type Middleware } from 'openapi-fetch';
import type { paths } from '../codegen/api.js';

export type { paths, components, operations } from '../codegen/api.js';

export interface PerpetuaClientOptions {
  /** e.g. http://127.0.0.1:8000/api/v1 */
  baseUrl: string;
  /** The access token, or a function returning the current one. */
  token?: string | (() => string | undefined);
  /** Idempotency keys for POST/PATCH/PUT; a fresh UUID per request by default. */
  idempotencyKey?: () => string;
  fetch?: typeof fetch;
}

const MUTATING = new Set(['POST', 'PATCH', 'PUT', 'DELETE']);
// Web Crypto, in browsers and in Node 19+: the client runs in both.
const randomUUID = () => globalThis.crypto.randomUUID();

// The client fills in Idempotency-Key itself, so callers may omit it (or set one to retry with).
type OptionalKey<H> = H extends { 'Idempotency-Key': unknown } ? Omit<H, 'Idempotency-Key'> & { 'Idempotency-Key'?: string } : H;
type WithOptionalKey<O> = O extends { parameters: infer P }
  ? Omit<O, 'parameters'> & { parameters: P extends { header: infer H } ? Omit<P, 'header'> & { header?: OptionalKey<H> } : P }
  : O;
/** The contract's paths as the client exposes them. */
export type ClientPaths = { [K in keyof paths]: { [M in keyof paths[K]]: WithOptionalKey<paths[K][M]> } };

/**
 * The typed client of the Perpetua Flow API: openapi-fetch over the types generated from
 * openapi.yaml, so a request or response that leaves the contract is a compile error. It adds the
 * bearer token and, on writes, an Idempotency-Key (kept when the caller set one, so retries of one
 * logical request can reuse it).
 */
export function createPerpetuaClient(opts: PerpetuaClientOptions): Client<ClientPaths> {
  const client = createClient<ClientPaths>({ baseUrl: opts.baseUrl, fetch: opts.fetch });
  const auth: Middleware = {
    onRequest({ request }) {
      const token = typeof opts.token === 'function' ? opts.token() : opts.token;
      if (token && !request.headers.has('authorization')) request.headers.set('authorization', `Bearer ${token}`);
      if (MUTATING.has(request.method) && !request.headers.has('idempotency-key') && !new URL(request.url).pathname.includes('/auth/')) {
        request.headers.set('idempotency-key', (opts.idempotencyKey ?? randomUUID)());
      }
      return request;
    },
  };
  client.use(auth);
  return client;
}
