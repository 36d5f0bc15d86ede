import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuthContext } from '../../../src/domain/auth/access-tokens.js';
import type { StoredResponse } from '../../../src/http/idempotency.js';
import type { StreamReply } from '../../../src/http/operation.js';
import { runIdempotently, STREAMED } from '../../../src/http/pipeline/idempotency-step.js';
import { startTestApp, type TestApp } from '../../helpers/app.js';
import { signUp } from '../../helpers/users.js';
import { fakeResponse } from './fakes.js';

// The step on a real database (the key's row), without the HTTP server in between.
let t: TestApp;
let auth: AuthContext;
beforeAll(async () => {
  t = await startTestApp();
  const user = await signUp(t);
  auth = { userId: user.id, email: user.email, tier: 'free', sessionId: randomUUID(), tokenId: randomUUID() };
});
afterAll(() => t?.close());

const call = (key: string, body: unknown = { title: 'a' }) => ({ auth, key, method: 'POST', path: '/api/v1/tasks', body });

describe('pipeline step: idempotency', () => {
  it('runs the work once and replays its answer to a retry', async () => {
    let runs = 0;
    const execute = async (): Promise<StoredResponse> => ({ status: 201, body: { run: ++runs }, headers: {} });
    const key = randomUUID();
    const first = await runIdempotently(t.db, { ttlHours: 24, ...call(key) }, { res: fakeResponse().res, execute });
    const retry = await runIdempotently(t.db, { ttlHours: 24, ...call(key) }, { res: fakeResponse().res, execute });
    expect(runs).toBe(1);
    expect(first).toMatchObject({ status: 201, body: { run: 1 }, replayed: false });
    expect(retry).toMatchObject({ status: 201, body: { run: 1 }, replayed: true });
  });

  it('refuses the key for another request with 422', async () => {
    const key = randomUUID();
    await runIdempotently(t.db, { ttlHours: 24, ...call(key) }, { res: fakeResponse().res, execute: async () => ({ status: 201, body: {}, headers: {} }) });
    await expect(runIdempotently(t.db, { ttlHours: 24, ...call(key, { title: 'b' }) }, { res: fakeResponse().res, execute: async () => ({ status: 201, body: {}, headers: {} }) })).rejects.toMatchObject({ code: 'IDEMPOTENCY_KEY_MISMATCH' });
  });

  it('writes and ends a stream inside the claim, and replays its final answer', async () => {
    const key = randomUUID();
    const out = fakeResponse();
    const stream: StreamReply = { status: 'stream', write: async (res) => (res.setHeader('Content-Type', 'text/event-stream'), { status: 200, body: { answer: 'done' } }) };
    expect(await runIdempotently(t.db, { ttlHours: 24, ...call(key) }, { res: out.res, execute: async () => stream })).toBe(STREAMED);
    expect(out.ended()).toBe(true);
    expect(out.headers['Content-Type']).toBe('text/event-stream');
    const retry = await runIdempotently(t.db, { ttlHours: 24, ...call(key) }, { res: fakeResponse().res, execute: async () => {
      throw new Error('ran twice');
    } });
    expect(retry).toMatchObject({ status: 200, body: { answer: 'done' }, replayed: true });
  });

  it('releases the key after a failed stream, so a retry runs the work again', async () => {
    const key = randomUUID();
    const failed: StreamReply = { status: 'stream', write: async () => null };
    expect(await runIdempotently(t.db, { ttlHours: 24, ...call(key) }, { res: fakeResponse().res, execute: async () => failed })).toBe(STREAMED);
    const retry = await runIdempotently(t.db, { ttlHours: 24, ...call(key) }, { res: fakeResponse().res, execute: async () => ({ status: 201, body: { again: true }, headers: {} }) });
    expect(retry).toMatchObject({ status: 201, body: { again: true }, replayed: false });
  });
});
