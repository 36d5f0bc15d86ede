import { createHmac, randomUUID } from 'node:crypto';
import net from 'node:net';
import v8 from 'node:v8';
import vm from 'node:vm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/config.js';
import { MAX_JSON_VALUES } from '../../src/http/body-guard.js';
import { startTestApp, testConfig, type TestApp } from '../helpers/app.js';
import type { ApiResponse } from '../helpers/client.js';
import { changedTables, databaseDigest, type DatabaseDigest } from '../helpers/db-snapshot.js';
import { createSubtask } from '../helpers/resources.js';
import { signUp, type TestUser } from '../helpers/users.js';

// Hostile requests: bodies over the limit, deeply nested or enormous JSON, huge strings, invalid
// UTF-8, NUL characters, oversized headers, clients that send slowly or stall. Each is answered
// with a 4xx (through the contract-checking client) or dropped, changes nothing, and leaves the
// process serving with its memory bounded. Requests that leave HTTP itself (a socket that stalls,
// headers Node refuses before the app sees them) use raw sockets and say so.

const BODY_LIMIT = 1_048_576;
const HEADERS_TIMEOUT_MS = 1_000;
const REQUEST_TIMEOUT_MS = 2_000;
const WEBHOOK_SECRET = 'whsec_abuse_test';

let t: TestApp;
let user: TestUser;
let taskId: string;

beforeAll(async () => {
  t = await startTestApp({
    env: {
      BODY_LIMIT_BYTES: String(BODY_LIMIT),
      // Lowered so that slow clients are cut off within the test's time.
      HTTP_HEADERS_TIMEOUT_MS: String(HEADERS_TIMEOUT_MS),
      HTTP_REQUEST_TIMEOUT_MS: String(REQUEST_TIMEOUT_MS),
      CHECKOUT_WEBHOOK_SECRET: WEBHOOK_SECRET,
    },
  });
  user = await signUp(t, { tier: 'pro' });
  taskId = ((await createSubtask(user)) as unknown as { taskId: string }).taskId;
});
afterAll(() => t?.close());

const json = { 'content-type': 'application/json' };
const postRaw = (path: string, rawBody: string | Buffer, headers: Record<string, string> = json) => user.api.request('POST', path, { rawBody, headers });
const putRaw = (path: string, rawBody: string | Buffer) => user.api.request('PUT', path, { rawBody, headers: json });

/** Refused with the error envelope, and nothing written. */
async function expectRefused(res: ApiResponse, status: number, code: string, before: DatabaseDigest) {
  expect(res.status, res.text.slice(0, 500)).toBe(status);
  expect(res.body.error.code).toBe(code);
  expect(changedTables(before, await databaseDigest(t)), 'tables written by a refused request').toEqual([]);
}

async function expectStillServing() {
  const res = await user.api.get('/users/me');
  expect(res.status).toBe(200);
}

describe('bodies over the limit', () => {
  it('answers a JSON body one byte over the limit with 413 PAYLOAD_TOO_LARGE', async () => {
    const before = await databaseDigest(t);
    const overhead = JSON.stringify({ title: '' }).length;
    const res = await postRaw('/tasks', JSON.stringify({ title: 'x'.repeat(BODY_LIMIT - overhead + 1) }));
    await expectRefused(res, 413, 'PAYLOAD_TOO_LARGE', before);
  });

  it('answers 413 from the declared Content-Length alone, without waiting for the bytes', async () => {
    // Raw socket: the client announces 50 MB and sends none of it; the answer must come anyway.
    const reply = await rawExchange(
      `POST /api/v1/tasks HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${user.token}\r\nIdempotency-Key: ${randomUUID()}\r\nContent-Type: application/json\r\nContent-Length: ${50 * BODY_LIMIT}\r\n\r\n`,
    );
    expect(reply.text).toMatch(/^HTTP\/1\.1 413 /);
    expect(JSON.parse(reply.text.slice(reply.text.indexOf('\r\n\r\n') + 4)).error.code).toBe('PAYLOAD_TOO_LARGE');
  });

  it('answers a chunked body that keeps coming with 413 once it passes the limit', async () => {
    // Raw socket: no Content-Length, chunks until the server answers (or 4 MB were sent).
    const socket = net.connect((t.app.server.address() as net.AddressInfo).port, '127.0.0.1');
    let text = '';
    socket.on('data', (d) => (text += d));
    const closed = new Promise<void>((r) => socket.on('close', () => r()));
    socket.on('error', () => {});
    socket.write(`POST /api/v1/tasks HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${user.token}\r\nIdempotency-Key: ${randomUUID()}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n`);
    const chunk = Buffer.alloc(64 * 1024, 'a');
    for (let sent = 0; sent < 4 * BODY_LIMIT && !text && !socket.destroyed; sent += chunk.length) {
      socket.write(`${chunk.length.toString(16)}\r\n`);
      socket.write(chunk);
      await new Promise<void>((r) => socket.write('\r\n', () => r()));
    }
    await waitFor(() => text.length > 0 || socket.destroyed, 5_000);
    expect(text).toMatch(/^HTTP\/1\.1 413 /);
    socket.destroy();
    await closed;
    await expectStillServing();
  });
});

describe('deeply nested JSON', () => {
  it('answers 100 000 unclosed "[" with 400 and keeps serving', async () => {
    const before = await databaseDigest(t);
    const res = await postRaw('/tasks', '['.repeat(100_000));
    await expectRefused(res, 400, 'VALIDATION_ERROR', before);
    await expectStillServing();
  });

  it('answers 100 000 nested arrays, as the body and inside a field, with 400 before validating them', async () => {
    const before = await databaseDigest(t);
    const nested = '['.repeat(100_000) + ']'.repeat(100_000);
    await expectRefused(await postRaw('/tasks', nested), 400, 'VALIDATION_ERROR', before);
    const inField = await postRaw('/tasks', `{"title":"Deep","priority":${nested}}`);
    await expectRefused(inField, 400, 'VALIDATION_ERROR', before);
    expect(inField.body.error.details).toEqual([{ field: 'body', message: `has more than ${MAX_JSON_VALUES} values` }]);
    // A shallower one reaches validation, which names the field.
    const shallow = await postRaw('/tasks', `{"title":"Deep","priority":${'['.repeat(1_000) + ']'.repeat(1_000)}}`);
    await expectRefused(shallow, 400, 'VALIDATION_ERROR', before);
    expect(shallow.body.error.details).toContainEqual({ field: 'body.priority', message: 'must be string' });
    await expectStillServing();
  });

  it('handles deep nesting where the contract allows any object (a signed webhook)', async () => {
    // CheckoutWebhookEvent.data is open (`additionalProperties: true`): validation does not stop
    // the nesting, so it reaches the handler, which must neither recurse into it nor store it.
    const deep = (levels: number) => `{"id":"evt_deep_${randomUUID()}","type":"card_verified","data":${'{"a":'.repeat(levels)}1${'}'.repeat(levels)}}`;
    const post = (rawBody: string) =>
      user.api.request('POST', '/webhooks/checkout', { token: null, rawBody, headers: { ...json, 'cko-signature': createHmac('sha256', WEBHOOK_SECRET).update(rawBody).digest('hex') } });
    const res = await post(deep(10_000));
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ received: true, processed: false, reason: 'unknown_event_type' });
    // Past the value limit, even a signed body is refused before anything reads it.
    const tooDeep = await post(deep(100_000));
    expect(tooDeep.status).toBe(400);
    expect(tooDeep.body.error.details).toEqual([{ field: 'body', message: `has more than ${MAX_JSON_VALUES} values` }]);
    await expectStillServing();
  });
});

describe('enormous arrays and bodies of many values', () => {
  it('refuses a 10 000-item array with the contract’s maxItems', async () => {
    const before = await databaseDigest(t);
    const ids = Array.from({ length: 10_000 }, () => randomUUID());
    const res = await putRaw(`/tasks/${taskId}/subtasks/reorder`, JSON.stringify({ subtask_ids: ids }));
    await expectRefused(res, 400, 'VALIDATION_ERROR', before);
    expect(res.body.error.details).toContainEqual({ field: 'body.subtask_ids', message: 'must NOT have more than 100 items' });
  });

  it('lists at most 100 problems for a body of 10 000 wrong values', async () => {
    const before = await databaseDigest(t);
    const res = await putRaw(`/tasks/${taskId}/subtasks/reorder`, JSON.stringify({ subtask_ids: Array.from({ length: 10_000 }, (_, i) => ({ i })) }));
    await expectRefused(res, 400, 'VALIDATION_ERROR', before);
    expect(res.body.error.details.length).toBeLessThanOrEqual(100);
    expect(res.text.length).toBeLessThan(20_000);
  });

  // Found by these tests: ~330 000 wrong values in 1 MB made Ajv's error list overflow
  // the then router's (openapi-backend) `errors.push(...errors)` (RangeError → 500) after ~0.8 s of CPU.
  it(`refuses a body of more than ${MAX_JSON_VALUES} values before validating it (1 MB of "{}")`, async () => {
    const before = await databaseDigest(t);
    const items = Math.floor((BODY_LIMIT - 100) / 3);
    const res = await putRaw(`/tasks/${taskId}/subtasks/reorder`, `{"subtask_ids":[${Array(items).fill('{}').join(',')}]}`);
    await expectRefused(res, 400, 'VALIDATION_ERROR', before);
    expect(res.body.error.details).toEqual([{ field: 'body', message: `has more than ${MAX_JSON_VALUES} values` }]);
  });

  it('refuses objects of many unknown keys with a bounded list of them', async () => {
    const before = await databaseDigest(t);
    const keys = (n: number) => Array.from({ length: n }, (_, i) => `"k${i}":1`).join(',');
    const many = await postRaw('/tasks', `{"title":"Keys",${keys(50_000)}}`);
    await expectRefused(many, 400, 'VALIDATION_ERROR', before);
    expect(many.body.error.details).toEqual([{ field: 'body', message: `has more than ${MAX_JSON_VALUES} values` }]);
    const fewer = await postRaw('/tasks', `{"title":"Keys",${keys(5_000)}}`);
    await expectRefused(fewer, 400, 'VALIDATION_ERROR', before);
    expect(fewer.body.error.details.length).toBeLessThanOrEqual(100);
  });
});

describe('huge strings', () => {
  it('refuses a string just under the body limit by its maxLength, and one over it with 413', async () => {
    const before = await databaseDigest(t);
    const huge = 'é'.repeat(Math.floor((BODY_LIMIT - 100) / 2)); // 2 bytes each
    const res = await postRaw('/tasks', JSON.stringify({ title: huge }));
    await expectRefused(res, 400, 'VALIDATION_ERROR', before);
    expect(res.body.error.details).toContainEqual({ field: 'body.title', message: 'must NOT have more than 200 characters' });
    expect(res.text.length, 'the refusal does not echo the string').toBeLessThan(2_000);
    await expectRefused(await postRaw('/tasks', JSON.stringify({ title: 'é'.repeat(BODY_LIMIT / 2) })), 413, 'PAYLOAD_TOO_LARGE', before);
  });

  it('refuses a huge unknown key without falling over', async () => {
    const before = await databaseDigest(t);
    const res = await postRaw('/tasks', `{"title":"Key","${'k'.repeat(BODY_LIMIT - 100)}":1}`);
    await expectRefused(res, 400, 'VALIDATION_ERROR', before);
  });
});

describe('bytes that are not text', () => {
  // Found by these tests: invalid bytes were decoded into U+FFFD and stored (201).
  it.each([
    ['a lone continuation byte', [0x80]],
    ['0xFF', [0xff, 0xfe]],
    ['a truncated sequence', [0xe2, 0x82]],
    ['an overlong "/"', [0xc0, 0xaf]],
    ['an encoded surrogate', [0xed, 0xa0, 0x80]],
    ['a code point beyond U+10FFFF', [0xf4, 0x90, 0x80, 0x80]],
  ])('refuses invalid UTF-8 (%s) with 400', async (_what, bytes) => {
    const before = await databaseDigest(t);
    const res = await postRaw('/tasks', Buffer.concat([Buffer.from('{"title":"Café '), Buffer.from(bytes), Buffer.from('"}')]));
    await expectRefused(res, 400, 'VALIDATION_ERROR', before);
    expect(res.body.error.details).toEqual([{ field: 'body', message: 'is not valid UTF-8' }]);
  });

  it('accepts a character split across two chunks of the body', async () => {
    // Raw socket, to control the chunks: "€" (E2 82 AC) is cut after its first byte.
    const body = Buffer.from('{"title":"Budget in €"}');
    const cut = body.indexOf(0xe2) + 1;
    const reply = await rawExchange(
      [
        `POST /api/v1/tasks HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${user.token}\r\nIdempotency-Key: ${randomUUID()}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n`,
        body.subarray(0, cut),
        body.subarray(cut),
      ],
      { gapMs: 50 },
    );
    expect(reply.text).toMatch(/^HTTP\/1\.1 201 /);
    expect(reply.text).toContain('Budget in €');
  });

  // Found by these tests: PostgreSQL text cannot hold U+0000; the insert failed with a 500.
  it('refuses a NUL character in a string or a key with 400 naming the field', async () => {
    const before = await databaseDigest(t);
    const res = await user.api.post('/tasks', { title: 'before\u0000after' });
    await expectRefused(res, 400, 'VALIDATION_ERROR', before);
    expect(res.body.error.details).toEqual([{ field: 'body.title', message: 'must not contain the NUL character (U+0000)' }]);
    const inSubtask = await user.api.post('/ai/confirm-action', { action_type: 'create_subtasks', action_data: { task_id: taskId, subtasks: [{ title: 'ok' }, { title: 'a\u0000' }] } });
    await expectRefused(inSubtask, 400, 'VALIDATION_ERROR', before);
    expect(inSubtask.body.error.details).toEqual([{ field: 'body.action_data.subtasks.1.title', message: 'must not contain the NUL character (U+0000)' }]);
  });
});

/** A raw answer's status, headers and JSON body: the error envelope with the security headers, or a failed expectation. */
function expectEnvelope(text: string, status: number, code: string) {
  const end = text.indexOf('\r\n\r\n');
  expect(text.slice(0, end), 'status line').toMatch(new RegExp(`^HTTP/1\\.1 ${status} `));
  const headers = Object.fromEntries(text.slice(0, end).split('\r\n').slice(1).map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]));
  expect(headers['content-type']).toBe('application/json; charset=utf-8');
  expect(headers['x-content-type-options']).toBe('nosniff');
  expect(headers['content-security-policy']).toContain("default-src 'none'");
  expect(headers['strict-transport-security']).toContain('max-age=');
  expect(headers['cache-control']).toBe('no-store');
  const body = JSON.parse(text.slice(end + 4));
  expect(body.error).toMatchObject({ code, request_id: headers['x-request-id'] });
  expect(Number(headers['content-length'])).toBe(Buffer.byteLength(text.slice(end + 4)));
}

describe('refusals before routing', () => {
  it('answers headers over 16 KB with 431 in the error envelope and keeps serving', async () => {
    // Raw socket: Node's HTTP parser refuses this before the app sees a request.
    const reply = await rawExchange(`GET /api/v1/users/me HTTP/1.1\r\nHost: x\r\nX-Padding: ${'p'.repeat(32 * 1024)}\r\n\r\n`);
    expectEnvelope(reply.text, 431, 'REQUEST_HEADERS_TOO_LARGE');
    await expectStillServing();
  });

  it('answers a request that is not HTTP with 400 in the error envelope', async () => {
    for (const garbage of ['GET /api/v1/users/me HTTP/1.1\r\nHost: x\r\nBroken header line\r\n\r\n', 'HELLO\r\n\r\n', 'GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n']) {
      expectEnvelope((await rawExchange(garbage)).text, 400, 'VALIDATION_ERROR');
    }
    await expectStillServing();
  });

  it('answers an expectation it cannot meet with 417 in the error envelope', async () => {
    const reply = await rawExchange('GET /api/v1/health/live HTTP/1.1\r\nHost: x\r\nExpect: the-unexpected\r\nConnection: close\r\n\r\n');
    expectEnvelope(reply.text, 417, 'EXPECTATION_FAILED');
  });

  it('refuses a query of 1 000 unknown parameters with a bounded list', async () => {
    const query = Object.fromEntries(Array.from({ length: 1_000 }, (_, i) => [`p${i}`, '1']));
    const res = await user.api.get('/tasks', { query });
    expect(res.status).toBe(400);
    expect(res.body.error.details.length).toBeLessThanOrEqual(100);
  });
});

describe('slow clients', () => {
  it('drops a client that sends its headers one byte at a time (slowloris)', async () => {
    // Raw socket: a byte every 100 ms never finishes the headers; the server must hang up by itself.
    const socket = net.connect((t.app.server.address() as net.AddressInfo).port, '127.0.0.1');
    socket.on('error', () => {});
    let text = '';
    socket.on('data', (d) => (text += d));
    const closed = new Promise<number>((r) => socket.on('close', () => r(Date.now())));
    await new Promise<void>((r) => socket.on('connect', () => r()));
    const started = Date.now();
    const request = `GET /api/v1/users/me HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${user.token}\r\nX-Slow: ${'s'.repeat(500)}`;
    let dropped = false;
    void closed.then(() => (dropped = true));
    for (let i = 0; i < request.length && !dropped && Date.now() - started < 10_000; i++) {
      socket.write(request[i]!);
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(dropped, 'the server kept a slowloris connection for 10 s').toBe(true);
    expect((await closed) - started).toBeGreaterThanOrEqual(HEADERS_TIMEOUT_MS - 50);
    // Node says why when it can: 408 Request Timeout, in the error envelope.
    if (text) expectEnvelope(text, 408, 'REQUEST_TIMEOUT');
    await expectStillServing();
  });

  it('drops a client that stalls in the middle of its body, and nothing is created', async () => {
    const before = await databaseDigest(t);
    const socket = net.connect((t.app.server.address() as net.AddressInfo).port, '127.0.0.1');
    socket.on('error', () => {});
    let text = '';
    socket.on('data', (d) => (text += d));
    const closed = new Promise<number>((r) => socket.on('close', () => r(Date.now())));
    await new Promise<void>((r) => socket.on('connect', () => r()));
    const started = Date.now();
    socket.write(`POST /api/v1/tasks HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${user.token}\r\nIdempotency-Key: ${randomUUID()}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"title":"Stal`);
    const at = await Promise.race([closed, new Promise<number>((r) => setTimeout(() => r(-1), 10_000))]);
    socket.destroy();
    expect(at, 'the server kept a stalled request for 10 s').toBeGreaterThan(0);
    expect(at - started).toBeGreaterThanOrEqual(REQUEST_TIMEOUT_MS - 50);
    if (text) expectEnvelope(text, 408, 'REQUEST_TIMEOUT');
    expect(changedTables(before, await databaseDigest(t))).toEqual([]);
    await expectStillServing();
  });

  it('refuses a configuration whose headers timeout is longer than its request timeout', () => {
    expect(() => testConfig({ HTTP_HEADERS_TIMEOUT_MS: '5000', HTTP_REQUEST_TIMEOUT_MS: '1000' })).toThrow(ConfigError);
  });
});

describe('memory', () => {
  it('stays bounded over 200 abusive requests', async () => {
    // A real collection before each measurement: --expose-gc set at run time, `gc` taken from a new context.
    v8.setFlagsFromString('--expose-gc');
    const gc = vm.runInNewContext('gc') as () => void;
    const heapAfterGc = () => {
      gc();
      gc();
      return process.memoryUsage().heapUsed;
    };
    const abusive: (() => Promise<ApiResponse>)[] = [
      () => postRaw('/tasks', JSON.stringify({ title: 'x'.repeat(BODY_LIMIT) })), // 413
      () => postRaw('/tasks', JSON.stringify({ title: 'x'.repeat(BODY_LIMIT - 100) })), // 400 maxLength
      () => putRaw(`/tasks/${taskId}/subtasks/reorder`, `{"subtask_ids":[${Array(300_000).fill('1').join(',')}]}`), // 400 too many values
      () => postRaw('/tasks', '['.repeat(200_000)), // 400 malformed
      () => postRaw('/tasks', Buffer.concat([Buffer.from('{"title":"'), Buffer.alloc(500_000, 0xff), Buffer.from('"}')])), // 400 not UTF-8
    ];
    for (const send of abusive) expect((await send()).status).toBeGreaterThanOrEqual(400); // warm up
    const before = heapAfterGc();
    for (let i = 0; i < 200; i++) {
      const res = await abusive[i % abusive.length]!();
      expect(res.status, res.text.slice(0, 200)).toBeGreaterThanOrEqual(400);
      expect(res.status).toBeLessThan(500);
    }
    const growth = heapAfterGc() - before;
    expect(growth, `heap grew by ${(growth / 1e6).toFixed(1)} MB`).toBeLessThan(50 * 1024 * 1024);
    await expectStillServing();
  }, 120_000); // ~5 s on a quiet machine; 200 bodies of up to 1 MB take far longer on a loaded one
});

// ------------------------------------------------------------------------------------ raw sockets

async function waitFor(condition: () => boolean, timeoutMs: number) {
  for (const deadline = Date.now() + timeoutMs; !condition() && Date.now() < deadline; ) await new Promise((r) => setTimeout(r, 20));
}

/** Sends bytes on a fresh connection and collects what comes back until the server answers (and closes, or 2 s pass). */
async function rawExchange(parts: string | (string | Buffer)[], opts: { gapMs?: number } = {}): Promise<{ text: string }> {
  const socket = net.connect((t.app.server.address() as net.AddressInfo).port, '127.0.0.1');
  socket.on('error', () => {});
  let text = '';
  socket.on('data', (d) => (text += d));
  const closed = new Promise<void>((r) => socket.on('close', () => r()));
  await new Promise<void>((r) => socket.on('connect', () => r()));
  for (const part of Array.isArray(parts) ? parts : [parts]) {
    socket.write(part);
    if (opts.gapMs) await new Promise((r) => setTimeout(r, opts.gapMs));
  }
  // The whole answer: its headers, then Content-Length bytes of body.
  const complete = () => {
    const end = text.indexOf('\r\n\r\n');
    if (end < 0) return false;
    const length = /content-length: (\d+)/i.exec(text.slice(0, end));
    return !length || Buffer.byteLength(text.slice(end + 4)) >= Number(length[1]);
  };
  await Promise.race([closed, waitFor(() => complete(), 5_000)]);
  socket.destroy();
  return { text };
}
