import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import WebSocket from 'ws';
import { createDatabase, type DatabaseHandle } from '../../db/index.js';
import { contractSchema, validationSummary } from '../../src/domain/ai/contract-schemas.js';
import { parseChatEvents } from '../ai/sse.js';
import { startFakeDeepgram, type FakeDeepgram } from '../fakes/deepgram.js';
import { startFakeOpenAI, type FakeOpenAI } from '../fakes/openai.js';
import { createTestDatabase } from '../helpers/app.js';
import { TestClient } from '../helpers/client.js';
import { assertMatchesContract, contract } from '../helpers/contract.js';
import { freePort, serviceEnv, startService, stopAllServices, type Service } from '../helpers/services.js';
import { EventStreamClient } from '../sync/event-stream.js';

// Two API processes behind a real HAProxy, configured by deploy/haproxy.cfg itself with only its
// addresses replaced, as deploy/compose.yaml runs them. Loopback is a whole /8 on Linux: HAProxy
// connects to the APIs from 127.0.0.2, the one address they trust (TRUST_PROXY), and each test
// client connects from an address of its own, so "which client is this" is a real network fact.

const PROXY_SOURCE = '127.0.0.2';
const AUTH_LIMIT = 4;

let database: Awaited<ReturnType<typeof createTestDatabase>>;
let handle: DatabaseHandle;
let ai: FakeOpenAI;
let dg: FakeDeepgram;
let apis: [Service, Service];
let lb: { url: string; pid: number; logs: string[]; exited: Promise<void> };
let haproxy: ChildProcess | undefined;
let tmp: string;

vi.setConfig({ testTimeout: 120_000 });

/** The HAProxy binary, or a failure that says how to get it (CI's .ci/run installs it). */
function haproxyBinary(): string {
  for (const candidate of ['/usr/sbin/haproxy', '/usr/local/sbin/haproxy']) if (fs.existsSync(candidate)) return candidate;
  const which = spawnSync('sh', ['-c', 'command -v haproxy'], { encoding: 'utf8' });
  if (which.status === 0 && which.stdout.trim()) return which.stdout.trim();
  throw new Error('haproxy is not installed: this suite runs the API behind a real HAProxy. Install it with `apt-get install haproxy` (.ci/run does).');
}

/** deploy/haproxy.cfg with its listen address and its servers replaced; everything else as deployed. */
function haproxyConfig(lbPort: number, apiAddresses: string[]): string {
  const deployed = fs.readFileSync(path.resolve(import.meta.dirname, '../../deploy/haproxy.cfg'), 'utf8');
  const replace = (text: string, pattern: RegExp, by: string) => {
    const matches = text.match(new RegExp(pattern.source, 'gm'));
    if (matches?.length !== 1) throw new Error(`deploy/haproxy.cfg: expected one line matching ${pattern}, found ${matches?.length ?? 0}`);
    return text.replace(new RegExp(pattern.source, 'm'), by);
  };
  let cfg = replace(deployed, /^(\s*)bind :8080$/, `$1bind 127.0.0.1:${lbPort}`);
  cfg = replace(cfg, /^(\s*)server-template api .*$/, apiAddresses.map((a, i) => `$1server api${i + 1} ${a} source ${PROXY_SOURCE}`).join('\n'));
  // GET /api/v1/events has a backend of its own, on the same processes.
  cfg = replace(cfg, /^(\s*)server-template api-events .*$/, apiAddresses.map((a, i) => `$1server api-events${i + 1} ${a} source ${PROXY_SOURCE}`).join('\n'));
  return cfg;
}

async function startHaproxy(apiAddresses: string[]): Promise<typeof lb> {
  const binary = haproxyBinary();
  const port = await freePort();
  const file = path.join(tmp, 'haproxy.cfg');
  fs.writeFileSync(file, haproxyConfig(port, apiAddresses));
  const check = spawnSync(binary, ['-c', '-f', file], { encoding: 'utf8' });
  if (check.status !== 0) throw new Error(`haproxy refuses the configuration:\n${check.stdout}${check.stderr}`);
  // -db: stay in the foreground, so the pid is HAProxy's own and stopping it stops everything.
  haproxy = spawn(binary, ['-db', '-f', file], { stdio: ['ignore', 'pipe', 'pipe'] });
  const logs: string[] = [];
  for (const stream of [haproxy.stdout!, haproxy.stderr!]) stream.on('data', (c: Buffer) => logs.push(...c.toString('utf8').split('\n').filter(Boolean)));
  const exited = new Promise<void>((resolve) => haproxy!.once('exit', () => resolve()));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (haproxy.exitCode !== null) throw new Error(`haproxy exited:\n${logs.join('\n')}`);
    const ok = await fetch(`${url}/health/live`).then((r) => r.status === 200, () => false);
    if (ok) break;
    if (Date.now() > deadline) throw new Error(`haproxy did not answer on ${url}:\n${logs.join('\n')}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return { url, pid: haproxy.pid!, logs, exited };
}

beforeAll(async () => {
  haproxyBinary(); // fail first, and clearly, without it
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'perpetua-lb-'));
  database = await createTestDatabase();
  handle = createDatabase(database.url, { max: 3 });
  [ai, dg] = await Promise.all([startFakeOpenAI(), startFakeDeepgram()]);
  const env = serviceEnv(database.url, {
    TRUST_PROXY: PROXY_SOURCE,
    RATE_LIMIT_STORE: 'postgres',
    RATE_LIMIT_AUTH: String(AUTH_LIMIT),
    OPENAI_API_KEY: ai.apiKey,
    OPENAI_BASE_URL: ai.baseUrl,
    DEEPGRAM_API_KEY: dg.apiKey,
    DEEPGRAM_URL: dg.baseUrl,
    EVENTS_HEARTBEAT_MS: '300',
  });
  const [a, b] = await Promise.all([startService('api', env), startService('api', env)]);
  apis = [a, b];
  lb = await startHaproxy(apis.map((s) => new URL(s.baseUrl).host));
}, 240_000);

afterAll(async () => {
  if (haproxy && haproxy.exitCode === null) {
    process.kill(lb?.pid ?? haproxy.pid!, 'SIGKILL');
    await lb?.exited;
  }
  await stopAllServices();
  await handle?.close();
  await Promise.all([ai?.close(), dg?.close()]);
  await database?.drop();
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

interface RawResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: any;
}

/**
 * A JSON request from a chosen loopback address (fetch cannot pick its source address), with the
 * answer checked against the contract like every other request of the suite.
 */
function requestFrom(localAddress: string, baseUrl: string, method: string, apiPath: string, opts: { body?: unknown; headers?: Record<string, string> } = {}): Promise<RawResponse> {
  const url = new URL(`/api/v1${apiPath}`, baseUrl);
  const payload = opts.body === undefined ? undefined : JSON.stringify(opts.body);
  return new Promise((resolve, reject) => {
    const req = http.request(
      url,
      { method, localAddress, agent: false, headers: { ...(payload ? { 'content-type': 'application/json' } : {}), ...opts.headers } },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c) => (text += c));
        res.on('end', () => {
          try {
            const contentType = res.headers['content-type'] ?? null;
            const body = contentType?.includes('json') && text ? JSON.parse(text) : text || undefined;
            assertMatchesContract(method, apiPath, res.statusCode!, contentType, body);
            resolve({ status: res.statusCode!, headers: res.headers, body });
          } catch (err) {
            reject(err);
          }
        });
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

const devLogin = (from: string, baseUrl: string, headers: Record<string, string> = {}) =>
  requestFrom(from, baseUrl, 'POST', '/auth/dev/login', { body: { email: `lb-${randomUUID().slice(0, 8)}@example.com` }, headers });

/** The client addresses the APIs have counted in the auth bucket (RateLimiterPostgres keys `auth:ip:<address>`). */
const authBuckets = async () =>
  (await sql<{ key: string; points: number }>`select key, points from rate_limits where key like 'auth:ip:%'`.execute(handle.db)).rows.map((r) => [r.key.slice('auth:ip:'.length), r.points] as const);

/** Which API process logged the request with this id. */
const servedBy = (requestId: string) => apis.filter((api) => api.logs.some((line) => line.includes(requestId))).map((api) => api.pid);

/** A signed-in user through the load balancer, from a loopback address of its own. */
async function signIn(from: string, tier: 'free' | 'pro' = 'free') {
  const res = await devLogin(from, lb.url);
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  if (tier === 'pro') await handle.db.updateTable('users').set({ tier: 'pro' }).where('id', '=', res.body.user.id).execute();
  return { id: res.body.user.id as string, token: res.body.access_token as string };
}

describe('two API processes behind HAProxy (deploy/haproxy.cfg)', () => {
  it('tells clients apart by the address HAProxy forwards, whatever X-Forwarded-For they send, with one auth limit across both processes', async () => {
    // Two clients, each claiming to be someone else in X-Forwarded-For, through the load balancer.
    const first = '127.0.0.3';
    const second = '127.0.0.4';
    const statuses: number[] = [];
    const requestIds: string[] = [];
    for (let i = 0; i <= AUTH_LIMIT; i++) {
      const requestId = randomUUID();
      requestIds.push(requestId);
      const res = await devLogin(first, lb.url, { 'x-forwarded-for': `198.51.100.${i + 1}`, 'x-request-id': requestId });
      statuses.push(res.status);
      if (res.status === 429) expect(res.body.error.code).toBe('RATE_LIMIT_EXCEEDED');
    }
    // The limit is one counter in PostgreSQL: the requests went to both processes, and still exactly AUTH_LIMIT passed.
    expect(statuses).toEqual([...Array(AUTH_LIMIT).fill(200), 429]);
    await expect.poll(() => new Set(requestIds.flatMap(servedBy)).size).toBe(2);

    // The second client has a bucket of its own, even claiming the first one's address.
    const other = await devLogin(second, lb.url, { 'x-forwarded-for': first });
    expect(other.status).toBe(200);
    expect(other.headers['x-ratelimit-remaining']).toBe(String(AUTH_LIMIT - 1));

    const buckets = new Map(await authBuckets());
    expect(buckets.get(first)).toBe(AUTH_LIMIT + 1);
    expect(buckets.get(second)).toBe(1);
    // Neither the proxy's own address nor anything a client wrote became a bucket.
    expect([...buckets.keys()].filter((ip) => ip === PROXY_SOURCE || ip.startsWith('198.51.100.'))).toEqual([]);
  });

  it('ignores X-Forwarded-For from a client that talks to an API process directly (only the proxy is trusted)', async () => {
    const direct = '127.0.0.5';
    const statuses: number[] = [];
    for (let i = 0; i <= AUTH_LIMIT; i++) {
      // A fresh forged chain each time, ending in the proxy's own address: nothing of it is believed.
      const res = await devLogin(direct, apis[i % 2]!.baseUrl, { 'x-forwarded-for': `203.0.113.${i + 1}, ${PROXY_SOURCE}` });
      statuses.push(res.status);
    }
    expect(statuses).toEqual([...Array(AUTH_LIMIT).fill(200), 429]);
    const buckets = new Map(await authBuckets());
    expect(buckets.get(direct)).toBe(AUTH_LIMIT + 1);
    expect([...buckets.keys()].filter((ip) => ip.startsWith('203.0.113.'))).toEqual([]);
  });

  it('streams the SSE chat answer through HAProxy as it is produced, not buffered', async () => {
    const user = await signIn('127.0.0.6');
    ai.answer({ content: 'First the figures, then the summary, then the slides.', chunkDelayMs: 150 });
    const started = performance.now();
    const res = await fetch(`${lb.url}/api/v1/ai/chat/stream`, {
      method: 'POST',
      headers: { authorization: `Bearer ${user.token}`, 'content-type': 'application/json', 'idempotency-key': randomUUID() },
      body: JSON.stringify({ message: 'Where do I start?' }),
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    let text = '';
    let firstDeltaAt: number | undefined;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      text += decoder.decode(value, { stream: true });
      if (firstDeltaAt === undefined && text.includes('event: delta')) firstDeltaAt = performance.now();
    }
    const endedAt = performance.now();
    assertMatchesContract('POST', '/ai/chat/stream', 200, res.headers.get('content-type'), text);
    const events = parseChatEvents(text);
    expect(events.at(-1)!.event).toBe('done');
    expect(events.filter((e) => e.event === 'delta').map((e) => e.data.text).join('')).toBe('First the figures, then the summary, then the slides.');
    // Ten words 150 ms apart: the first arrives long before the last (a buffering proxy would deliver them together).
    expect(firstDeltaAt! - started).toBeLessThan(endedAt - started - 600);
  });

  it('passes the live-update stream (GET /events) through HAProxy as it is written: heartbeats and changes, not buffered', async () => {
    const user = await signIn('127.0.0.9');
    const ticket = await requestFrom('127.0.0.9', lb.url, 'POST', '/events/ticket', { headers: { authorization: `Bearer ${user.token}`, 'idempotency-key': randomUUID() } });
    expect(ticket.status).toBe(201);
    const stream = await EventStreamClient.open(lb.url, { ticket: ticket.body.data.ticket });
    try {
      expect(stream.status).toBe(200);
      expect(stream.headers['x-accel-buffering']).toBe('no');
      // The snapshot page (an empty account), then heartbeats as they are written, 300 ms apart:
      // the fifth comes well after the first (a buffering proxy would deliver them together). Four
      // intervals against a bar of one: a test process busy when the first arrives reads it late.
      await stream.until(() => stream.comments.length >= 5, 5_000, 'five heartbeats');
      expect(stream.comments[4]!.at - stream.comments[0]!.at).toBeGreaterThan(300);
      const task = await requestFrom('127.0.0.9', lb.url, 'POST', '/tasks', { body: { title: 'Through the proxy' }, headers: { authorization: `Bearer ${user.token}`, 'idempotency-key': randomUUID() } });
      expect(task.status).toBe(201);
      await stream.changes((d) => d.tasks.some((x: any) => x.id === task.body.data.id), { ms: 5_000 });
    } finally {
      stream.close();
    }
  });

  it('relays the voice WebSocket through HAProxy: audio up, transcripts down, completed and charged', async () => {
    const user = await signIn('127.0.0.7', 'pro');
    dg.bytesPerSecond = 16_000;
    dg.live = { finalEvery: 2 };
    const validate = contractSchema(contract, 'VoiceServerMessage');
    const ws = new WebSocket(`${lb.url.replace('http', 'ws')}/api/v1/ws/voice/transcribe?token=${user.token}`);
    const messages: any[] = [];
    ws.on('message', (data, isBinary) => {
      expect(isBinary).toBe(false);
      const msg = JSON.parse(String(data));
      if (!validate(msg)) throw new Error(`server message does not match VoiceServerMessage: ${validationSummary(validate)}`);
      messages.push(msg);
    });
    const closed = new Promise<number>((resolve) => ws.on('close', (code) => resolve(code)));
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    await expect.poll(() => messages.some((m) => m.type === 'connected')).toBe(true);
    for (let i = 0; i < 4; i++) ws.send(Buffer.alloc(8000, 1), { binary: true });
    await expect.poll(() => messages.filter((m) => m.type === 'transcript' && m.is_final).length).toBe(2);
    ws.send(JSON.stringify({ type: 'end_stream' }));
    await expect.poll(() => messages.find((m) => m.type === 'complete')).toEqual({
      type: 'complete',
      full_transcript: 'word1 word2 word3 word4',
      duration_seconds: 2,
      credits_used: 5,
      credits_remaining: 0,
    });
    expect(await closed).toBe(1000);
    const session = await handle.db.selectFrom('voice_sessions').select(['status', 'duration_seconds']).where('user_id', '=', user.id).executeTakeFirstOrThrow();
    expect(session).toEqual({ status: 'completed', duration_seconds: 2 });
  });

  it('does not publish /metrics through the load balancer; Prometheus scrapes each process directly', async () => {
    for (const p of ['/metrics', '/api/v1/metrics', '/metrics?format=text']) expect((await fetch(`${lb.url}${p}`)).status).toBe(404);
    expect((await fetch(`${apis[0].baseUrl}/metrics`)).status).toBe(200);
  });

  it('keeps serving through the other process when one API process goes away', async () => {
    const user = await signIn('127.0.0.8');
    const client = new TestClient(lb.url, user.token);
    await apis[1].kill('SIGKILL');
    // Before the health check takes the dead server out (inter × fall, 2 s × 3), a connection it
    // refuses is redispatched to the live one (`retries`, `option redispatch`): no client sees it.
    // A GET sent on a pooled keep-alive connection at the instant it is closed is retried once by
    // the client, as browsers do; a CI run under load saw one ("other side closed" on a socket
    // that had carried earlier tests' requests). A fresh connection never is.
    const get = (path: string) =>
      client.get(path).catch((err: { cause?: { code?: string; socket?: { bytesRead?: number } } }) => {
        if (err.cause?.code === 'UND_ERR_SOCKET' && (err.cause.socket?.bytesRead ?? 0) > 0) return client.get(path);
        throw err;
      });
    for (let round = 0; round < 3; round++) {
      const statuses = await Promise.all(Array.from({ length: 6 }, () => get('/users/me').then((r) => r.status)));
      expect(statuses).toEqual(Array(6).fill(200));
    }
  });
});
