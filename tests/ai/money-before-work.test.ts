import pg from 'pg';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startFakeAudioHost, webmBytes, type FakeAudioHost } from '../fakes/audio-host.js';
import { startFakeDeepgram, type FakeDeepgram } from '../fakes/deepgram.js';
import { startFakeOpenAI, type FakeOpenAI } from '../fakes/openai.js';
import { TEST_TLS_CERT } from '../fakes/tls.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { balanceOf, drainCredits, expectConsistentLedger, giveCredits } from '../helpers/credits.js';
import { signUp, type TestUser } from '../helpers/users.js';

// Issue 15, item 1: every paid AI operation reserves its credits before the provider is asked, so
// parallel requests on a small balance get exactly as many answers as it pays for and the provider
// is never asked for more; a refused request never reaches the provider.

let ai: FakeOpenAI;
let dg: FakeDeepgram;
let host: FakeAudioHost;
let t: TestApp;

beforeAll(async () => {
  ai = await startFakeOpenAI();
  dg = await startFakeDeepgram();
  host = await startFakeAudioHost();
  t = await startTestApp({
    env: {
      OPENAI_API_KEY: ai.apiKey,
      OPENAI_BASE_URL: ai.baseUrl,
      DEEPGRAM_API_KEY: dg.apiKey,
      DEEPGRAM_URL: dg.baseUrl,
      TRANSCRIBE_EXTRA_CA_CERTS: TEST_TLS_CERT,
      TRANSCRIBE_ALLOW_LOOPBACK: 'true',
    },
  });
  host.serve('/voice.webm', { body: webmBytes(16_000 * 42), contentType: 'audio/webm' });
});
afterAll(async () => {
  await t?.close();
  await host?.close();
  await dg?.close();
  await ai?.close();
});
beforeEach(() => {
  dg.prerecorded = { transcript: 'Call the venue about the projector.', confidence: 0.94, language: 'en' };
});

/** A user whose balance is exactly `credits` (purchased, so nothing expires during the test). */
async function userWithBalance(credits: number, tier: 'free' | 'pro' = 'free'): Promise<TestUser> {
  const u = await signUp(t, { tier });
  await drainCredits(t, u.id);
  if (credits > 0) await giveCredits(t, u.id, 'purchased', credits);
  expect((await balanceOf(t, u.id)).total).toBe(credits);
  return u;
}

/**
 * N parallel requests on a balance of B at `price` each: floor(B/price) succeed, the rest are 402,
 * the provider was asked at most floor(B/price) times, the balance is what is left and the ledger
 * adds up to it.
 */
async function expectPaidBeforeWork(u: TestUser, opts: { balance: number; price: number; n: number; providerCalls: () => number; send: (i: number) => Promise<{ status: number }> }) {
  const callsBefore = opts.providerCalls();
  const results = await Promise.all(Array.from({ length: opts.n }, (_, i) => opts.send(i)));
  const paid = Math.floor(opts.balance / opts.price);
  expect(results.map((r) => r.status).sort()).toEqual([...Array(paid).fill(200), ...Array(opts.n - paid).fill(402)]);
  expect(opts.providerCalls() - callsBefore).toBeLessThanOrEqual(paid);
  const balance = (await balanceOf(t, u.id)).total;
  expect(balance).toBe(opts.balance - paid * opts.price);
  expect(balance).toBeGreaterThanOrEqual(0);
  await expectConsistentLedger(t, u.id, expect);
}

describe('paid AI requests reserve their credits before the provider is asked', () => {
  it('POST /ai/chat (JSON): 20 parallel requests on a balance of 5 → 5 answers, 15 × 402, the provider asked at most 5 times', async () => {
    const u = await userWithBalance(5);
    ai.answer({ content: 'Start with the figures.', delayMs: 150 });
    await expectPaidBeforeWork(u, { balance: 5, price: 1, n: 20, providerCalls: () => ai.requests.length, send: (i) => u.api.post('/ai/chat', { message: `Question ${i}` }) });
  });

  it('POST /ai/generate-subtasks: 8 parallel requests on a balance of 3 → 3 answers, the provider asked at most 3 times', async () => {
    const u = await userWithBalance(3);
    const task = (await u.api.post('/tasks', { title: 'Write the quarterly report' })).body.data as { id: string };
    ai.answer({ json: { subtasks: [{ title: 'Collect the figures' }, { title: 'Draft the summary' }] }, delayMs: 150 });
    await expectPaidBeforeWork(u, { balance: 3, price: 1, n: 8, providerCalls: () => ai.requests.length, send: () => u.api.post('/ai/generate-subtasks', { task_id: task.id }) });
  });

  it('POST /notes/{id}/convert: 10 parallel requests on a balance of 3 → 3 answers, the provider asked at most 3 times', async () => {
    const u = await userWithBalance(3);
    const note = (await u.api.post('/notes', { content: 'Call the venue about the projector.' })).body.data as { id: string };
    ai.answer({
      json: { title: 'Call the venue', description: '', priority: 'medium', due_date: null, estimated_duration: 15, subtasks: [], confidence: 0.9 },
      delayMs: 150,
    });
    await expectPaidBeforeWork(u, { balance: 3, price: 1, n: 10, providerCalls: () => ai.requests.length, send: () => u.api.post(`/notes/${note.id}/convert`) });
  });

  it('POST /ai/transcribe: 6 parallel 300 s recordings (25 credits each) on a balance of 60 → 2 transcripts, Deepgram asked at most twice', async () => {
    const u = await userWithBalance(60, 'pro');
    dg.prerecorded.duration = 300;
    await expectPaidBeforeWork(u, { balance: 60, price: 25, n: 6, providerCalls: () => dg.prerecordedRequests.length, send: () => u.api.post('/ai/transcribe', { audio_url: `${host.origin}/voice.webm` }) });
  });

  it('POST /ai/transcribe: a Pro user with 15 credits and a 300 s recording gets 402, again and again, and Deepgram is never called', async () => {
    const u = await userWithBalance(15, 'pro');
    dg.prerecorded.duration = 300;
    const before = dg.prerecordedRequests.length;
    for (let i = 0; i < 3; i++) {
      const res = await u.api.post('/ai/transcribe', { audio_url: `${host.origin}/voice.webm` });
      expect(res.status).toBe(402);
      expect((res.body as any).error).toMatchObject({ code: 'INSUFFICIENT_CREDITS', credits_required: 25, credits_available: 15 });
    }
    expect(dg.prerecordedRequests.length).toBe(before);
    expect((await balanceOf(t, u.id)).total).toBe(15);
    await expectConsistentLedger(t, u.id, expect);
  });

  it('POST /ai/transcribe: the reservation of the longest recording is settled at the measured duration (42 s → 5 credits)', async () => {
    const u = await userWithBalance(30, 'pro');
    const res = await u.api.post('/ai/transcribe', { audio_url: `${host.origin}/voice.webm` });
    expect(res.status).toBe(200);
    expect((res.body as any).data).toMatchObject({ duration_seconds: 42, credits_used: 5, credits_remaining: 25 });
    expect((await balanceOf(t, u.id)).total).toBe(25);
    await expectConsistentLedger(t, u.id, expect);
  });
});

describe('a burst of one user\'s paid requests', () => {
  // Issue 18: 500 chats at once used to take a pool connection each and wait on the user's credit
  // lock with it, so the pool (10) held only waiters and every other request timed out (503). One
  // user's reservations in a process are now taken together, by one transaction at a time.
  it('waits for the user\'s credit lock on one connection: other users are answered meanwhile, then every request is settled', async () => {
    const u = await userWithBalance(12);
    const other = await signUp(t);
    ai.answer({ content: 'Done.', delayMs: 20 });
    // Another process holds the user's credit lock (a long grant, say).
    const holder = new pg.Client({ connectionString: t.databaseUrl });
    await holder.connect();
    try {
      await holder.query('begin');
      await holder.query("select pg_advisory_xact_lock(hashtextextended($1, 0))", [`credits:${u.id}`]);
      const burst = Promise.all(Array.from({ length: 30 }, (_, i) => u.api.post('/ai/chat', { message: `Question ${i}` })));
      burst.catch(() => {}); // awaited below; a failed assertion before that must not leave it unhandled
      // Until at most one of them waits on the lock (before: all ten pool connections did).
      const waiting = async () =>
        Number((await holder.query("select count(*)::int as n from pg_locks where locktype = 'advisory' and not granted and database = (select oid from pg_database where datname = current_database())")).rows[0].n);
      const until = Date.now() + 5_000;
      while ((await waiting()) === 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
      expect(await waiting()).toBe(1);
      const started = Date.now();
      const list = await other.api.get('/tasks');
      expect(list.status).toBe(200);
      expect(Date.now() - started).toBeLessThan(2_000);
      await new Promise((r) => setTimeout(r, 200));
      expect(await waiting()).toBe(1);
      await holder.query('commit');
      const results = await burst;
      expect(results.map((r) => r.status).sort()).toEqual([...Array(12).fill(200), ...Array(18).fill(402)]);
    } finally {
      await holder.end();
    }
    expect((await balanceOf(t, u.id)).total).toBe(0);
    const remaining = (await t.db.selectFrom('ai_credit_ledger').select('balance_after').where('user_id', '=', u.id).where('type', '=', 'deduct').where('category', '=', 'ai').orderBy('seq').execute()).map((e) => e.balance_after);
    expect(remaining).toEqual([11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0]);
    await expectConsistentLedger(t, u.id, expect);
  });
});
