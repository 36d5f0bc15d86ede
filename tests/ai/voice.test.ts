import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { contractSchema, validationSummary } from '../../src/domain/ai/contract-schemas.js';
import { openVoiceSession, VoiceSessionActive } from '../../src/domain/ai/voice-sessions.js';
import { startFakeDeepgram, type FakeDeepgram } from '../fakes/deepgram.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { contract } from '../helpers/contract.js';
import { balanceOf, drainCredits, expectConsistentLedger, giveCredits, ledgerOf } from '../helpers/credits.js';
import { signUp } from '../helpers/users.js';

// The live relay, through a real WebSocket client, against the fake Deepgram live server. The fake
// counts 16 000 bytes as one second of audio unless a test changes bytesPerSecond.

let dg: FakeDeepgram;
let t: TestApp;

beforeAll(async () => {
  dg = await startFakeDeepgram();
  t = await startTestApp({ env: { DEEPGRAM_API_KEY: dg.apiKey, DEEPGRAM_URL: dg.baseUrl } });
});
afterAll(async () => {
  await t?.close();
  await dg?.close();
});
beforeEach(() => {
  dg.bytesPerSecond = 16_000;
  dg.live = { finalEvery: 2 };
});

const validateServerMessage = (msg: unknown) => {
  const v = contractSchema(contract, 'VoiceServerMessage');
  if (!v(msg)) throw new Error(`server message does not match VoiceServerMessage: ${validationSummary(v)}: ${JSON.stringify(msg)}`);
};

interface Client {
  ws: WebSocket;
  messages: any[];
  /** Resolves with the first message of this type (already received or coming). */
  next(type: string): Promise<any>;
  closed: Promise<{ code: number; reason: string }>;
  frame(bytes: number): void;
}

/** Opens the relay; rejects with the HTTP status and body when the upgrade is refused. */
function connect(app: TestApp, query = ''): Promise<Client> {
  const ws = new WebSocket(`${app.baseUrl.replace('http', 'ws')}/api/v1/ws/voice/transcribe${query}`);
  const messages: any[] = [];
  const waiters: { type: string; resolve: (m: any) => void }[] = [];
  ws.on('message', (data, isBinary) => {
    expect(isBinary).toBe(false);
    const msg = JSON.parse(String(data));
    validateServerMessage(msg);
    messages.push(msg);
    for (const w of waiters.filter((x) => x.type === msg.type)) {
      waiters.splice(waiters.indexOf(w), 1);
      w.resolve(msg);
    }
  });
  const closed = new Promise<{ code: number; reason: string }>((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: String(reason) })));
  return new Promise((resolve, reject) => {
    ws.on('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () => reject(Object.assign(new Error(`upgrade refused: ${res.statusCode}`), { status: res.statusCode, headers: res.headers, body: JSON.parse(body) })));
    });
    ws.on('error', () => {});
    ws.on('open', () =>
      resolve({
        ws,
        messages,
        closed,
        next: (type) => {
          const seen = messages.find((m) => m.type === type);
          return seen ? Promise.resolve(seen) : new Promise((r) => waiters.push({ type, resolve: r }));
        },
        frame: (bytes) => ws.send(Buffer.alloc(bytes, 1), { binary: true }),
      }),
    );
  });
}

const proUser = async (credits = 0) => {
  const u = await signUp(t, { tier: 'pro' });
  if (credits) await giveCredits(t, u.id, 'purchased', credits);
  return u;
};
const sessionRow = (id: string) => t.db.selectFrom('voice_sessions').selectAll().where('id', '=', id).executeTakeFirstOrThrow();

describe('streamVoiceTranscription (WebSocket relay)', () => {
  it('relays audio and transcripts, then completes with the measured duration and charge', async () => {
    const u = await proUser(10);
    const c = await connect(t, `?token=${u.token}`);
    const connected = await c.next('connected');
    expect(connected).toEqual({ type: 'connected', session_id: expect.any(String), max_duration_seconds: 300 });
    for (let i = 0; i < 4; i++) c.frame(8000);
    await expect.poll(() => c.messages.filter((m) => m.type === 'transcript' && m.is_final).length).toBe(2);
    c.ws.send(JSON.stringify({ type: 'end_stream' }));
    const complete = await c.next('complete');
    expect(complete).toEqual({ type: 'complete', full_transcript: 'word1 word2 word3 word4', duration_seconds: 2, credits_used: 5, credits_remaining: 10 });
    expect((await c.closed).code).toBe(1000);

    const transcripts = c.messages.filter((m) => m.type === 'transcript');
    expect(transcripts.map((m) => [m.text, m.is_final])).toEqual([
      ['word1', false],
      ['word1 word2', true],
      ['word3', false],
      ['word3 word4', true],
    ]);
    const live = dg.liveSessions.at(-1)!;
    expect(live).toMatchObject({ bytes: 32_000, closeStreamReceived: true });
    expect(live.query.get('model')).toBe('nova-3');
    expect(await sessionRow(connected.session_id)).toMatchObject({ user_id: u.id, status: 'completed', end_reason: 'end_stream', transcript: 'word1 word2 word3 word4', duration_seconds: 2, credits_used: 5 });
    expect((await ledgerOf(t, u.id)).at(-1)).toMatchObject({ amount: -5, description: 'Live transcription', operation_ref: `voice_session:${connected.session_id}` });
    await expectConsistentLedger(t, u.id, expect);
  });

  it('authenticates with a first `auth` message, discarding audio sent before `connected`', async () => {
    const u = await proUser();
    const c = await connect(t);
    c.ws.send(JSON.stringify({ type: 'auth', token: u.token }));
    c.frame(16_000); // before connected: not relayed, not charged
    await c.next('connected');
    c.frame(8000);
    c.ws.send(JSON.stringify({ type: 'end_stream' }));
    const complete = await c.next('complete');
    expect(complete).toMatchObject({ duration_seconds: 0.5, credits_used: 5, credits_remaining: 0 });
    expect(dg.liveSessions.at(-1)!.bytes).toBe(8000);
  });

  it('charges 5 credits per started minute of relayed audio', async () => {
    const u = await proUser(20);
    dg.bytesPerSecond = 1000; // 8 kB frames of 8 s each
    const c = await connect(t, `?token=${u.token}`);
    await c.next('connected');
    for (let i = 0; i < 8; i++) c.frame(8000); // 64 s
    await expect.poll(() => c.messages.filter((m) => m.type === 'transcript').length).toBe(8);
    c.ws.send(JSON.stringify({ type: 'end_stream' }));
    expect(await c.next('complete')).toMatchObject({ duration_seconds: 64, credits_used: 10, credits_remaining: 15 });
  });

  it('stops at the maximum duration with MAX_DURATION_EXCEEDED, charging only up to it', async () => {
    const capped = await startTestApp({ env: { DEEPGRAM_API_KEY: dg.apiKey, DEEPGRAM_URL: dg.baseUrl, VOICE_MAX_DURATION_SECONDS: '2' } });
    try {
      const u = await signUp(capped, { tier: 'pro' });
      const c = await connect(capped, `?token=${u.token}`);
      expect(await c.next('connected')).toMatchObject({ max_duration_seconds: 2 });
      for (let i = 0; i < 6; i++) c.frame(8000); // 3 s offered
      const error = await c.next('error');
      expect(error).toMatchObject({ code: 'MAX_DURATION_EXCEEDED' });
      const complete = await c.next('complete');
      expect(complete.duration_seconds).toBe(2);
      expect(complete.credits_used).toBe(5);
      expect((await c.closed).code).toBe(1000);
      expect(c.messages.findIndex((m) => m.type === 'error')).toBeLessThan(c.messages.findIndex((m) => m.type === 'complete'));
      const row = await capped.db.selectFrom('voice_sessions').selectAll().where('user_id', '=', u.id).executeTakeFirstOrThrow();
      expect(row).toMatchObject({ end_reason: 'max_duration', duration_seconds: 2, credits_used: 5 });
    } finally {
      await capped.close();
    }
  });

  it('keeps the partial transcript and charges the relayed audio when the client disconnects mid-stream', async () => {
    const u = await proUser(10);
    const c = await connect(t, `?token=${u.token}`);
    const { session_id } = await c.next('connected');
    for (let i = 0; i < 3; i++) c.frame(16_000);
    await expect.poll(() => c.messages.filter((m) => m.type === 'transcript').length).toBe(3);
    c.ws.terminate();
    await expect.poll(async () => (await sessionRow(session_id)).status, { timeout: 8000 }).toBe('completed');
    expect(await sessionRow(session_id)).toMatchObject({ end_reason: 'disconnected', transcript: 'word1 word2 word3', duration_seconds: 3, credits_used: 5 });
    expect((await balanceOf(t, u.id)).total).toBe(10);
    await expectConsistentLedger(t, u.id, expect);
  });

  it('stops when a new minute starts that the balance cannot pay for', async () => {
    const u = await proUser(); // 5 kickstart credits: one minute
    dg.bytesPerSecond = 1000;
    const c = await connect(t, `?token=${u.token}`);
    await c.next('connected');
    for (let i = 0; i < 9; i++) c.frame(8000); // 72 s offered
    expect(await c.next('error')).toMatchObject({ code: 'INSUFFICIENT_CREDITS' });
    const complete = await c.next('complete');
    expect(complete).toMatchObject({ credits_used: 5, credits_remaining: 0 });
    expect(complete.duration_seconds).toBeGreaterThan(60);
    expect((await balanceOf(t, u.id)).total).toBe(0);
  });

  it('reports a provider failure mid-stream as TRANSCRIPTION_FAILED, keeps the transcript and charges what was relayed', async () => {
    const u = await proUser(10);
    dg.live.failAfterFrames = 2;
    const c = await connect(t, `?token=${u.token}`);
    const { session_id } = await c.next('connected');
    for (let i = 0; i < 3; i++) c.frame(8000);
    expect(await c.next('error')).toMatchObject({ code: 'TRANSCRIPTION_FAILED' });
    expect(await c.next('complete')).toMatchObject({ full_transcript: 'word1 word2', duration_seconds: 1, credits_used: 5 });
    expect((await c.closed).code).toBe(1011);
    expect(await sessionRow(session_id)).toMatchObject({ status: 'failed', end_reason: 'provider_failed' });
  });

  it('closes a frame over 32 KB with 1009 and still settles the session', async () => {
    const u = await proUser(10);
    const c = await connect(t, `?token=${u.token}`);
    const { session_id } = await c.next('connected');
    c.frame(16_000);
    await c.next('transcript');
    c.frame(32 * 1024 + 1);
    expect((await c.closed).code).toBe(1009);
    await expect.poll(async () => (await sessionRow(session_id)).status, { timeout: 8000 }).toBe('completed');
    expect(await sessionRow(session_id)).toMatchObject({ duration_seconds: 1, credits_used: 5 });
  });

  it('ends open sessions, charging them, when the server shuts down', async () => {
    const app = await startTestApp({ env: { DEEPGRAM_API_KEY: dg.apiKey, DEEPGRAM_URL: dg.baseUrl } });
    const u = await signUp(app, { tier: 'pro' });
    const c = await connect(app, `?token=${u.token}`);
    const { session_id } = await c.next('connected');
    c.frame(16_000);
    await c.next('transcript');
    const db = app.db;
    const closing = app.app.close();
    expect(await c.next('complete')).toMatchObject({ credits_used: 5 });
    expect((await c.closed).code).toBe(1001);
    await closing;
    expect(await db.selectFrom('voice_sessions').select(['status', 'end_reason']).where('id', '=', session_id).executeTakeFirstOrThrow()).toEqual({ status: 'completed', end_reason: 'server_shutdown' });
    // the rest of the teardown (database, pool); closing the server again is harmless
    await app.close();
  });
});

describe('paying per started minute, one session per user (review finding 2)', () => {
  const voiceCharges = async (userId: string) => (await ledgerOf(t, userId)).filter((e) => e.category === 'ai');
  const endAndComplete = async (c: Client) => {
    c.ws.send(JSON.stringify({ type: 'end_stream' }));
    return c.next('complete');
  };

  it('refuses a second session of the same user while one is open, on parallel and later connections', async () => {
    const u = await proUser(10);
    const both = await Promise.all([connect(t, `?token=${u.token}`), connect(t, `?token=${u.token}`)]);
    const outcomes = await Promise.all(both.map((c) => Promise.race([c.next('connected'), c.next('error')])));
    expect(outcomes.map((m) => m.type).sort()).toEqual(['connected', 'error']);
    const refused = both[outcomes.findIndex((m) => m.type === 'error')]!;
    const open = both[outcomes.findIndex((m) => m.type === 'connected')]!;
    expect(outcomes.find((m) => m.type === 'error')).toMatchObject({ code: 'VOICE_SESSION_ACTIVE', message: expect.stringMatching(/already have a live transcription session/) });
    expect((await refused.closed).code).toBe(1008);

    // a later one is refused too, before Deepgram is opened
    const sessions = dg.liveSessions.length;
    const later = await connect(t);
    later.ws.send(JSON.stringify({ type: 'auth', token: u.token }));
    expect(await later.next('error')).toMatchObject({ code: 'VOICE_SESSION_ACTIVE' });
    expect(dg.liveSessions.length).toBe(sessions);

    // only the open session was charged; once it ends, a new one may start
    expect((await balanceOf(t, u.id)).total).toBe(10);
    open.frame(8000);
    await open.next('transcript');
    expect(await endAndComplete(open)).toMatchObject({ credits_used: 5, credits_remaining: 10 });
    const next = await connect(t, `?token=${u.token}`);
    await next.next('connected');
    next.ws.close();
    expect(await t.db.selectFrom('voice_sessions').select('id').where('user_id', '=', u.id).execute()).toHaveLength(2);
  });

  it('lets exactly one of concurrent session starts through (the unique index decides), charging one minute', async () => {
    const u = await proUser(20);
    const charge = { userId: u.id, perMinute: 5, maxDurationSeconds: 300 };
    const starts = await Promise.allSettled(Array.from({ length: 8 }, () => openVoiceSession(t.db, charge)));
    expect(starts.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    for (const r of starts.filter((x) => x.status === 'rejected')) expect((r as PromiseRejectedResult).reason).toBeInstanceOf(VoiceSessionActive);
    expect(await t.db.selectFrom('voice_sessions').select('status').where('user_id', '=', u.id).execute()).toEqual([{ status: 'active' }]);
    expect((await balanceOf(t, u.id)).total).toBe(20);
    await expectConsistentLedger(t, u.id, expect);
  });

  it('does not let a session left active by a stopped server block its user', async () => {
    const u = await proUser();
    const stale = await t.db
      .insertInto('voice_sessions')
      .values({ user_id: u.id, started_at: new Date(Date.now() - 3_600_000) })
      .returning('id')
      .executeTakeFirstOrThrow();
    const c = await connect(t, `?token=${u.token}`);
    await c.next('connected');
    expect(await sessionRow(stale.id)).toMatchObject({ status: 'failed', end_reason: null, ended_at: expect.any(Date) });
    c.ws.close();
  });

  it('pays the first minute before `connected` and each next one when it starts', async () => {
    const u = await proUser(5); // 10 credits: two minutes
    dg.bytesPerSecond = 1000;
    const c = await connect(t, `?token=${u.token}`);
    const { session_id } = await c.next('connected');
    expect((await balanceOf(t, u.id)).total).toBe(5);
    for (let i = 0; i < 7; i++) c.frame(8000); // 56 s
    await expect.poll(() => c.messages.filter((m) => m.type === 'transcript').length).toBe(7);
    expect((await balanceOf(t, u.id)).total).toBe(5);
    c.frame(8000); // 64 s: the second minute started
    await expect.poll(async () => (await balanceOf(t, u.id)).total).toBe(0);
    expect((await sessionRow(session_id)).credits_used).toBe(10);
    expect(await endAndComplete(c)).toMatchObject({ duration_seconds: 64, credits_used: 10, credits_remaining: 0 });
    expect((await voiceCharges(u.id)).map((e) => [e.type, e.amount, e.operation_ref])).toEqual([
      ['deduct', -5, `voice_session:${session_id}`],
      ['deduct', -5, `voice_session:${session_id}`],
    ]);
    await expectConsistentLedger(t, u.id, expect);
  });

  it('with a balance of 5, stops at the minute boundary with INSUFFICIENT_CREDITS, charging exactly 5 and relaying nothing more', async () => {
    const u = await proUser(); // 5 kickstart credits: one minute
    dg.bytesPerSecond = 1000;
    const c = await connect(t, `?token=${u.token}`);
    const { session_id } = await c.next('connected');
    for (let i = 0; i < 7; i++) c.frame(8000);
    c.frame(4000); // exactly 60 s: still the first minute
    await expect.poll(() => c.messages.filter((m) => m.type === 'transcript').length).toBe(8);
    expect(c.messages.some((m) => m.type === 'error')).toBe(false);
    c.frame(1000); // 61 s: a second minute starts that cannot be paid
    expect(await c.next('error')).toMatchObject({ code: 'INSUFFICIENT_CREDITS' });
    c.frame(8000); // after the stop: not relayed
    const complete = await c.next('complete');
    expect(complete).toMatchObject({ duration_seconds: 61, credits_used: 5, credits_remaining: 0 });
    expect((await c.closed).code).toBe(1000);
    expect(dg.liveSessions.at(-1)!.bytes).toBe(61_000);
    expect(await sessionRow(session_id)).toMatchObject({ status: 'completed', end_reason: 'insufficient_credits', credits_used: 5 });
    expect((await voiceCharges(u.id)).map((e) => [e.type, e.amount])).toEqual([['deduct', -5]]);
    expect((await balanceOf(t, u.id)).total).toBe(0);
    await expectConsistentLedger(t, u.id, expect);
  });

  it('parallel sessions cannot transcribe for free: each started minute is paid or the session stops', async () => {
    // Several connections at once: at most one session runs, and it pays for what it relays.
    const u = await proUser(); // 5 credits
    dg.bytesPerSecond = 1000;
    const clients = await Promise.all(Array.from({ length: 5 }, () => connect(t, `?token=${u.token}`)));
    const first = await Promise.all(clients.map((c) => Promise.race([c.next('connected'), c.next('error')])));
    expect(first.filter((m) => m.type === 'connected')).toHaveLength(1);
    const open = clients[first.findIndex((m) => m.type === 'connected')]!;
    for (let i = 0; i < 9; i++) open.frame(8000); // 72 s offered
    expect(await open.next('error')).toMatchObject({ code: 'INSUFFICIENT_CREDITS' });
    expect(await open.next('complete')).toMatchObject({ credits_used: 5, credits_remaining: 0 });
    expect((await voiceCharges(u.id)).map((e) => e.amount)).toEqual([-5]);
    await expectConsistentLedger(t, u.id, expect);
  });

  it('returns the first minute of a session that relayed no audio', async () => {
    const u = await proUser();
    const c = await connect(t, `?token=${u.token}`);
    const { session_id } = await c.next('connected');
    expect((await balanceOf(t, u.id)).total).toBe(0);
    expect(await endAndComplete(c)).toMatchObject({ duration_seconds: 0, credits_used: 0, credits_remaining: 5 });
    const [charge, refund] = await voiceCharges(u.id);
    expect(charge).toMatchObject({ type: 'deduct', amount: -5, operation_ref: `voice_session:${session_id}` });
    expect(refund).toMatchObject({ type: 'grant', amount: 5, operation_ref: `refund:${charge!.id}` });
    expect(await sessionRow(session_id)).toMatchObject({ status: 'completed', credits_used: 0 });
    await expectConsistentLedger(t, u.id, expect);
  });
});

describe('refusals before a session starts (nothing charged)', () => {
  it('answers a bad or expired token in the query with a plain 401', async () => {
    const err = await connect(t, '?token=not-a-token').catch((e) => e);
    expect(err.status).toBe(401);
    expect(err.body.error.code).toBe('UNAUTHORIZED');
    expect(err.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('answers a free user in the query with a plain 403 TIER_REQUIRED', async () => {
    const free = await signUp(t);
    const err = await connect(t, `?token=${free.token}`).catch((e) => e);
    expect(err.status).toBe(403);
    expect(err.body.error).toMatchObject({ code: 'TIER_REQUIRED', required_tier: 'pro', current_tier: 'free' });
  });

  it('tells a free user who authenticates by message TIER_REQUIRED, then closes with 1008', async () => {
    const free = await signUp(t);
    const c = await connect(t);
    c.ws.send(JSON.stringify({ type: 'auth', token: free.token }));
    expect(await c.next('error')).toMatchObject({ code: 'TIER_REQUIRED' });
    expect((await c.closed).code).toBe(1008);
  });

  it.each([
    ['audio before auth', (c: Client) => c.frame(100)],
    ['another message before auth', (c: Client) => c.ws.send(JSON.stringify({ type: 'end_stream' }))],
    ['text that is not JSON', (c: Client) => c.ws.send('hello')],
    ['a bad token', (c: Client) => c.ws.send(JSON.stringify({ type: 'auth', token: 'forged' }))],
  ])('answers %s with UNAUTHORIZED and 1008', async (_what, act) => {
    const c = await connect(t);
    act(c);
    expect(await c.next('error')).toMatchObject({ code: 'UNAUTHORIZED' });
    expect((await c.closed).code).toBe(1008);
  });

  it('needs a balance of at least one minute (5 credits) before opening Deepgram', async () => {
    const u = await signUp(t, { tier: 'pro' });
    await drainCredits(t, u.id);
    await giveCredits(t, u.id, 'purchased', 4);
    const sessions = dg.liveSessions.length;
    const c = await connect(t, `?token=${u.token}`);
    expect(await c.next('error')).toMatchObject({ code: 'INSUFFICIENT_CREDITS' });
    expect((await c.closed).code).toBe(1008);
    expect(dg.liveSessions.length).toBe(sessions);
    expect((await balanceOf(t, u.id)).total).toBe(4);
  });

  it('reports Deepgram being unreachable as TRANSCRIPTION_FAILED with 1011', async () => {
    const u = await proUser();
    dg.live.refuseWith = 503;
    const c = await connect(t, `?token=${u.token}`);
    expect(await c.next('error')).toMatchObject({ code: 'TRANSCRIPTION_FAILED' });
    expect((await c.closed).code).toBe(1011);
    expect((await balanceOf(t, u.id)).total).toBe(5);
    expect(await t.db.selectFrom('voice_sessions').select('id').where('user_id', '=', u.id).execute()).toEqual([]);
  });

  it('counts the upgrade against the AI rate limit', async () => {
    const limited = await startTestApp({ env: { DEEPGRAM_API_KEY: dg.apiKey, DEEPGRAM_URL: dg.baseUrl, RATE_LIMIT_AI: '1' } });
    try {
      const u = await signUp(limited, { tier: 'pro' });
      const first = await connect(limited, `?token=${u.token}`);
      await first.next('connected');
      first.ws.close();
      const err = await connect(limited, `?token=${u.token}`).catch((e) => e);
      expect(err.status).toBe(429);
      expect(err.body.error.code).toBe('RATE_LIMIT_EXCEEDED');
      expect(Number(err.headers['retry-after'])).toBeGreaterThan(0);
      const byMessage = await connect(limited);
      byMessage.ws.send(JSON.stringify({ type: 'auth', token: u.token }));
      expect(await byMessage.next('error')).toMatchObject({ code: 'RATE_LIMIT_EXCEEDED' });
    } finally {
      await limited.close();
    }
  });

  it('answers 503 naming DEEPGRAM_API_KEY when transcription is not configured', async () => {
    const bare = await startTestApp();
    try {
      const u = await signUp(bare, { tier: 'pro' });
      const err = await connect(bare, `?token=${u.token}`).catch((e) => e);
      expect(err.status).toBe(503);
      expect(err.body.error).toMatchObject({ code: 'TRANSCRIPTION_SERVICE_UNAVAILABLE', message: expect.stringContaining('DEEPGRAM_API_KEY') });
    } finally {
      await bare.close();
    }
  });

  it('answers a plain GET with 426 UPGRADE_REQUIRED, and other WebSocket paths with 404', async () => {
    const res = await t.api.get('/ws/voice/transcribe');
    expect(res.status).toBe(426);
    expect(res.headers.get('upgrade')).toBe('websocket');
    expect(res.body.error.code).toBe('UPGRADE_REQUIRED');

    const ws = new WebSocket(`${t.baseUrl.replace('http', 'ws')}/api/v1/ws/elsewhere`);
    const status = await new Promise<number>((resolve) => ws.on('unexpected-response', (_req, r) => resolve(r.statusCode ?? 0)));
    ws.on('error', () => {});
    expect(status).toBe(404);
    // ordinary HTTP keeps working on the same port
    expect((await t.api.get('/health/live')).status).toBe(200);
  });
});
