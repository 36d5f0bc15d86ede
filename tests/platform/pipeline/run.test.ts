import { describe, expect, it } from 'vitest';
import { AppError } from '../../../src/http/errors.js';
import type { RequestContext } from '../../../src/http/operation.js';
import { runHandler, type AnyHandler } from '../../../src/http/pipeline/run.js';
import type { RequestState } from '../../../src/http/request-state.js';

const ctx = { requestId: 'req-1', auth: null, deps: { db: undefined } } as unknown as RequestContext;
const request = { body: undefined, params: {}, query: {}, headers: {} } as never;
const state = (): RequestState => ({ requestId: 'req-1', startedAt: 0n });
const handler = (fn: () => Promise<unknown>) => fn as unknown as AnyHandler;

describe('pipeline step: run', () => {
  it('turns a reply into the answer to store, with its headers, replay body and content type', async () => {
    const s = state();
    const answer = await runHandler(handler(async () => ({ status: 201, body: { id: 'x' }, replayBody: { id: 'x', url: null }, contentType: 'application/problem+json' })), { request, ctx, state: s });
    expect(answer).toEqual({ status: 201, body: { id: 'x' }, headers: {}, replayBody: { id: 'x', url: null } });
    expect(s.contentType).toBe('application/problem+json');
  });

  it('passes a stream through unwritten', async () => {
    const stream = { status: 'stream', write: async () => null };
    expect(await runHandler(handler(async () => stream), { request, ctx, state: state() })).toBe(stream);
  });

  it('answers a business error as an error envelope and records its code', async () => {
    const s = state();
    const answer = await runHandler(handler(async () => { throw new AppError('CONFLICT', 'Changed meanwhile'); }), { request, ctx, state: s });
    expect(answer).toMatchObject({ status: 409, body: { error: { code: 'CONFLICT', message: 'Changed meanwhile', request_id: 'req-1' } }, headers: {} });
    expect(s.errorCode).toBe('CONFLICT');
  });

  it('throws on a 429, a 5xx and anything else', async () => {
    for (const err of [new AppError('RATE_LIMIT_EXCEEDED', 'slow down'), new AppError('SERVICE_UNAVAILABLE', 'down'), new Error('bug')]) {
      await expect(runHandler(handler(async () => { throw err; }), { request, ctx, state: state() })).rejects.toBe(err);
    }
  });
});
