import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPerpetuaClient } from '../../client/index.js';
import { contractCheckedFetch } from '../helpers/checked-fetch.js';
import { startTestApp, type TestApp } from '../helpers/app.js';

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
});
afterAll(() => t?.close());

describe('the typed client', () => {
  it('signs in, reads and updates the user with typed calls', async () => {
    const anonymous = createPerpetuaClient({ baseUrl: `${t.baseUrl}/api/v1`, fetch: contractCheckedFetch });
    const login = await anonymous.POST('/auth/dev/login', { body: { email: 'typed@example.com', name: 'Typed' } });
    expect(login.error).toBeUndefined();
    const api = createPerpetuaClient({ baseUrl: `${t.baseUrl}/api/v1`, token: login.data!.access_token, fetch: contractCheckedFetch });
    const me = await api.GET('/users/me');
    expect(me.data?.data.email).toBe('typed@example.com');
    const patched = await api.PATCH('/users/me', { body: { timezone: 'Asia/Tokyo' } });
    expect(patched.data?.data.timezone).toBe('Asia/Tokyo');
  });

  it('reuses an Idempotency-Key the caller sets, so a retry replays', async () => {
    const login = await t.api.post('/auth/dev/login', { email: 'retry@example.com' });
    const api = createPerpetuaClient({ baseUrl: `${t.baseUrl}/api/v1`, token: login.body.access_token, fetch: contractCheckedFetch });
    const headers = { 'Idempotency-Key': 'client-retry-1' };
    await api.PATCH('/users/me', { body: { name: 'Retry' }, params: { header: headers } });
    const again = await api.PATCH('/users/me', { body: { name: 'Retry' }, params: { header: headers } });
    expect(again.response.headers.get('idempotent-replayed')).toBe('true');
  });

  it('surfaces the error envelope as a typed error', async () => {
    const api = createPerpetuaClient({ baseUrl: `${t.baseUrl}/api/v1`, fetch: contractCheckedFetch });
    const res = await api.GET('/users/me');
    expect(res.response.status).toBe(401);
    expect(res.error?.error.code).toBe('UNAUTHORIZED');
  });
});
