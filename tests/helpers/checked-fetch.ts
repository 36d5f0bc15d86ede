import { assertMatchesContract } from './contract.js';

/**
 * fetch that checks every response against openapi.yaml, for code that takes a fetch (the typed
 * client): the same guarantee as TestClient. `inner` does the actual fetch (e.g. one that also
 * checks what a proxy in between reported).
 */
export const contractChecked = (inner: typeof fetch): typeof fetch => async (input, init) => {
  const request = input instanceof Request ? input : new Request(input, init);
  const res = await inner(request);
  const url = new URL(request.url);
  const text = await res.clone().text();
  const contentType = res.headers.get('content-type');
  const body = contentType?.includes('json') && text ? JSON.parse(text) : text || undefined;
  assertMatchesContract(request.method, url.pathname.replace(/^\/api\/v1/, '') || '/', res.status, contentType, body);
  return res;
};

export const contractCheckedFetch: typeof fetch = contractChecked((input, init) => fetch(input, init));
