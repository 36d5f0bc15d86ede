import { describe, expect, it } from 'vitest';
import { writeAnswer, writeStored, writeStream } from '../../../src/http/pipeline/write.js';
import { fakeResponse } from './fakes.js';

describe('pipeline step: write', () => {
  it('writes status, headers, JSON type and Content-Length (also what HEAD gets, without the body)', () => {
    const out = fakeResponse();
    writeStored(out.res, { status: 201, body: { title: 'ü' }, headers: { ETag: '"v1"' } });
    expect(out.status()).toBe(201);
    expect(out.headers).toEqual({ ETag: '"v1"', 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': 14 });
    expect(out.written()).toBe('{"title":"ü"}');
  });

  it("writes a replay's stored text as first sent, and a string body as it is, in the answer's own type", () => {
    const out = fakeResponse();
    writeStored(out.res, { status: 200, body: { a: 1 }, bodyText: '{ "a": 1 }', headers: {} });
    expect(out.written()).toBe('{ "a": 1 }');
    const text = fakeResponse();
    writeStored(text.res, { status: 200, body: 'BEGIN:VCALENDAR', headers: {} }, 'text/calendar; charset=utf-8');
    expect(text.headers).toMatchObject({ 'Content-Type': 'text/calendar; charset=utf-8', 'Content-Length': 15 });
  });

  it('sends no body and no Content-Type for a 204 or an answer without a body', () => {
    for (const answer of [{ status: 204, body: { ignored: true }, headers: {} }, { status: 202, body: undefined, headers: {} }]) {
      const out = fakeResponse();
      writeStored(out.res, answer);
      expect(out.headers).toEqual({});
      expect(out.written()).toBeUndefined();
      expect(out.ended()).toBe(true);
    }
  });

  it('marks a replay, and lets a streaming operation render a stored success as its stream', () => {
    const replayed = fakeResponse();
    writeAnswer(replayed.res, { status: 200, body: { a: 1 }, headers: {}, replayed: true }, { requestHeaders: {}, replayStream: () => false });
    expect(replayed.headers['Idempotent-Replayed']).toBe('true');
    expect(replayed.written()).toBe('{"a":1}');

    const streamed = fakeResponse();
    const asStream = (_stored: unknown, headers: Record<string, string | undefined>, res: { end(text: string): unknown }) => (res.end(`stream for ${headers.accept}`), true);
    writeAnswer(streamed.res, { status: 200, body: { a: 1 }, headers: {}, replayed: true }, { requestHeaders: { accept: 'text/event-stream' }, replayStream: asStream });
    expect(streamed.written()).toBe('stream for text/event-stream');

    const failure = fakeResponse();
    const never = () => {
      throw new Error('a failure is never streamed');
    };
    writeAnswer(failure.res, { status: 402, body: { error: {} }, headers: {}, replayed: true }, { requestHeaders: {}, replayStream: never });
    expect(failure.status()).toBe(402);
  });

  it('ends a stream the handler left open', async () => {
    const out = fakeResponse();
    await writeStream(out.res, { status: 'stream', write: async () => ({ status: 200, body: null }) });
    expect(out.ended()).toBe(true);
  });
});
