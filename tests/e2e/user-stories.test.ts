import { randomUUID } from 'node:crypto';
import jwt from 'jsonwebtoken';
import type { Client } from 'openapi-fetch';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPerpetuaClient, type ClientPaths } from '../../client/index.js';
import { parseChatEvents } from '../ai/sse.js';
import { startFakeAudioHost, webmBytes, type FakeAudioHost } from '../fakes/audio-host.js';
import { startFakeDeepgram, type FakeDeepgram } from '../fakes/deepgram.js';
import { startFakeGoogle, type FakeGoogle } from '../fakes/google.js';
import { startFakeOpenAI, type FakeOpenAI } from '../fakes/openai.js';
import { TEST_TLS_CERT } from '../fakes/tls.js';
import { startBillingApp, type BillingApp } from '../helpers/billing.js';
import { contractChecked } from '../helpers/checked-fetch.js';
import { startPrism, type RunningPrism } from '../helpers/prism.js';

// The user stories of the seed plan (seed/plan.md names 13 stories, P1–P4, by phase; SPEC §5–§6 and
// the issues give their content), each played end to end by a user of the typed client
// (client/index.ts, openapi-fetch over the generated types), every answer checked against
// openapi.yaml:
//
//   US1  (P1) Sign in with Google, keep a session, manage the profile
//   US2  (P1) Tasks with subtasks: create, list, edit with optimistic locking, complete, hide, delete
//   US3  (P2) Recurring tasks: templates (RRULE), the next instance generated on completion
//   US4  (P2) Notes, and voice notes (Pro): transcription, archive, delete
//   US5  (P2) Reminders that follow the due date, fired into in-app notifications
//   US6  (P3) AI assistant: chat (JSON and SSE), subtask generation, confirmed actions
//   US7  (P3) A note turned into a task by the AI (suggestion, then confirmation)
//   US8  (P3) AI credits: balance, FIFO ledger history, purchases
//   US9  (P3) Achievements and streaks: unlocks reported inline, perks raising limits
//   US10 (P4) Pro subscription through Checkout.com: checkout, webhook, cancel
//   US11 (P4) Recovery of deleted tasks and notes (the three newest tombstones)
//   US12 (P4) Focus mode: sessions measured by the server
//   US13 (P4) Web Push and the activity log
//
// Every story runs twice: against the API, and through `prism proxy openapi.yaml … --errors`, which
// validates every request and response against the contract and answers a violation itself (422 for
// a request, 500 for a response, with an `sl-violations` header). The second run must see none.
// Not through Prism: the voice WebSocket relay (an HTTP upgrade Prism cannot proxy; tests/ai/voice.test.ts).

type Api = Client<ClientPaths>;
type Via = 'direct' | 'prism';

let app: BillingApp;
let prism: RunningPrism;
let google: FakeGoogle;
let ai: FakeOpenAI;
let dg: FakeDeepgram;
let host: FakeAudioHost;
/** What Prism reported, per request, in the runs through it. */
const violations: string[] = [];
let requestsThroughPrism = 0;
let requestsDirect = 0;

beforeAll(async () => {
  [google, ai, dg, host] = await Promise.all([startFakeGoogle(), startFakeOpenAI(), startFakeDeepgram(), startFakeAudioHost()]);
  app = await startBillingApp({
    worker: true,
    env: {
      GOOGLE_CLIENT_ID: google.clientId,
      GOOGLE_JWKS_URL: google.jwksUrl,
      OPENAI_API_KEY: ai.apiKey,
      OPENAI_BASE_URL: ai.baseUrl,
      DEEPGRAM_API_KEY: dg.apiKey,
      DEEPGRAM_URL: dg.baseUrl,
      TRANSCRIBE_EXTRA_CA_CERTS: TEST_TLS_CERT,
      TRANSCRIBE_ALLOW_LOOPBACK: 'true',
      // US1 shows both sides of the refresh-reuse grace (10 s by default) without waiting that long.
      JWT_REFRESH_REUSE_GRACE_SECONDS: '1',
    },
  });
  prism = await startPrism('proxy', { upstream: `${app.t.baseUrl}/api/v1` });
  host.serve('/standup.webm', { body: webmBytes(16_000 * 42), contentType: 'audio/webm' });
}, 60_000);

afterAll(async () => {
  await prism?.stop();
  await app?.close();
  await Promise.all([google?.close(), ai?.close(), dg?.close(), host?.close()]);
});

/** fetch through Prism: a request or response Prism found outside the contract fails the call. */
const prismFetch: typeof fetch = async (input, init) => {
  requestsThroughPrism++;
  const res = await fetch(input, init);
  const reported = res.headers.get('sl-violations');
  if (reported || res.headers.get('content-type')?.includes('application/problem+json')) {
    const request = input instanceof Request ? input : new Request(input, init);
    const line = `${request.method} ${new URL(request.url).pathname} → ${res.status}: ${reported ?? (await res.clone().text())}`;
    violations.push(line);
    throw new Error(`prism proxy reported a contract violation: ${line}`);
  }
  return res;
};

/** What a story needs: clients for the run's route, and ways to become a signed-in (Pro) user. */
interface Session {
  via: Via;
  client(token?: string): Api;
  signIn(name?: string): Promise<{ api: Api; userId: string; token: string }>;
  becomePro(api: Api): Promise<void>;
}

function session(via: Via): Session {
  const baseUrl = via === 'direct' ? `${app.t.baseUrl}/api/v1` : prism.baseUrl;
  const directFetch: typeof fetch = (input, init) => {
    requestsDirect++;
    return fetch(input, init);
  };
  const fetchImpl = contractChecked(via === 'direct' ? directFetch : prismFetch);
  const client = (token?: string) => createPerpetuaClient({ baseUrl, token, fetch: fetchImpl });
  // Checkout.com's webhooks take the same route as the user's requests.
  app.checkout.sender = async (rawBody, headers) => {
    const res = await client().POST('/webhooks/checkout', {
      body: JSON.parse(rawBody),
      bodySerializer: () => rawBody,
      params: { header: { 'Cko-Signature': headers['cko-signature'] } },
    });
    return { status: res.response.status, body: res.data ?? res.error };
  };
  return {
    via,
    client,
    async signIn(name) {
      const login = ok(await client().POST('/auth/dev/login', { body: { email: `${via}-${randomUUID().slice(0, 8)}@example.com`, ...(name ? { name } : {}) } }));
      return { api: client(login.access_token), userId: login.user.id, token: login.access_token };
    },
    async becomePro(api) {
      const upgrade = ok(await api.POST('/subscription/upgrade', { body: {} })).data;
      expect(upgrade).toMatchObject({ tier: 'free', checkout_url: expect.stringMatching(/^https:\/\//) });
      const paid = await app.checkout.payHostedPage(upgrade.session_id!);
      expect(paid.delivery).toMatchObject({ status: 200, body: { received: true, processed: true } });
      expect(ok(await api.GET('/subscription')).data).toMatchObject({ tier: 'pro', status: 'active' });
    },
  };
}

/** The data of a successful call, or a failure that says what came back. */
function ok<T>(res: { data?: T; error?: unknown; response: Response }): T {
  if (res.error !== undefined || res.data === undefined) {
    throw new Error(`expected success, got ${res.response.status} ${JSON.stringify(res.error ?? null)} (${res.response.url})`);
  }
  return res.data;
}

/** The JSON answer of an operation that can also answer an event stream. */
function json<T>(body: T): Exclude<T, string> {
  if (typeof body === 'string') throw new Error(`expected JSON, got text: ${body.slice(0, 200)}`);
  return body as Exclude<T, string>;
}

/** The error envelope of a documented refusal. */
function refused(res: { error?: unknown; response: Response }, status: number, code: string) {
  expect(res.response.status, JSON.stringify(res.error)).toBe(status);
  const error = (res.error as { error: { code: string } & Record<string, unknown> }).error;
  expect(error.code).toBe(code);
  return error;
}

const DAY = 86_400_000;
/** A due date `days` from now, at a whole minute (as the frontend's datetime-local sends it). */
const inDays = (days: number) => {
  const d = new Date(Date.now() + days * DAY);
  d.setUTCSeconds(0, 0);
  return d.toISOString();
};
const minutesAfter = (iso: string, minutes: number) => new Date(Date.parse(iso) + minutes * 60_000).toISOString();
const poll = { timeout: 15_000, interval: 100 };

const stories: Array<[string, (s: Session) => Promise<void>]> = [
  [
    'US1 (P1) signs in with Google, keeps a session and manages the profile',
    async (s) => {
      const anon = s.client();
      const sub = `g-${randomUUID()}`;
      const email = `${sub}@example.com`;
      const signIn = async () => ok(await anon.POST('/auth/google/callback', { body: { id_token: google.signIdToken({ sub, email, name: 'Ada Lovelace' }) } }));
      const first = await signIn();
      expect(first).toMatchObject({ token_type: 'Bearer', expires_in: 900, user: { email, name: 'Ada Lovelace', tier: 'free' } });
      // The access token is RS256, signed by a key the JWKS publishes.
      const header = jwt.decode(first.access_token, { complete: true })!.header;
      const jwks = ok(await anon.GET('/.well-known/jwks.json'));
      expect(header.alg).toBe('RS256');
      expect(jwks.keys.map((k) => k.kid)).toContain(header.kid);

      const api = s.client(first.access_token);
      expect(ok(await api.GET('/users/me')).data.id).toBe(first.user.id);
      const profile = ok(await api.PATCH('/users/me', { body: { name: 'Ada King', timezone: 'Europe/London' } })).data;
      expect(profile).toMatchObject({ name: 'Ada King', timezone: 'Europe/London' });

      // Refresh rotates both tokens. Within the grace (a second tab refreshing at the same moment)
      // the rotated refresh token gets the same new one; reused after it, it ends the session.
      const rotated = ok(await anon.POST('/auth/refresh', { body: { refresh_token: first.refresh_token } }));
      expect(rotated.refresh_token).not.toBe(first.refresh_token);
      expect(ok(await s.client(rotated.access_token).GET('/users/me')).data.name).toBe('Ada King');
      expect(ok(await anon.POST('/auth/refresh', { body: { refresh_token: first.refresh_token } })).refresh_token).toBe(rotated.refresh_token);
      await new Promise((resolve) => setTimeout(resolve, 1200));
      // US1-AS4: the refusal tells the client to sign in again.
      expect(refused(await anon.POST('/auth/refresh', { body: { refresh_token: first.refresh_token } }), 401, 'INVALID_REFRESH_TOKEN').refresh_required).toBe(true);
      refused(await anon.POST('/auth/refresh', { body: { refresh_token: rotated.refresh_token } }), 401, 'INVALID_REFRESH_TOKEN');
      refused(await s.client(rotated.access_token).GET('/users/me'), 401, 'UNAUTHORIZED');

      // Signing in again keeps the name the user chose; logging out ends that session.
      const again = await signIn();
      expect(again.user).toMatchObject({ id: first.user.id, name: 'Ada King' });
      expect(ok(await s.client(again.access_token).GET('/users/me')).data.timezone).toBe('Europe/London');
      const logout = await anon.POST('/auth/logout', { body: { refresh_token: again.refresh_token } });
      expect(logout.response.status).toBe(200);
      expect(logout.data).toEqual({ data: null });
      refused(await anon.POST('/auth/refresh', { body: { refresh_token: again.refresh_token } }), 401, 'INVALID_REFRESH_TOKEN');
    },
  ],
  [
    'US2 (P1) manages tasks with subtasks: optimistic locking, auto- and force-completion, hiding, deletion',
    async (s) => {
      const { api } = await s.signIn();
      const due = inDays(3);
      const report = ok(await api.POST('/tasks', { body: { title: 'Prepare the quarterly report', description: 'Q4 numbers', priority: 'high', due_date: due, estimated_duration: 90 } })).data;
      expect(report).toMatchObject({ title: 'Prepare the quarterly report', priority: 'high', due_date: due, estimated_duration: 90, completed: false, completed_by: null, version: 1 });
      const dentist = ok(await api.POST('/tasks', { body: { title: 'Call the dentist' } })).data;
      expect(dentist).toMatchObject({ description: '', priority: 'medium', due_date: null });

      const high = ok(await api.GET('/tasks', { params: { query: { priority: 'high', completed: false } } }));
      expect(high.data.map((x) => x.id)).toEqual([report.id]);
      expect(high.pagination).toMatchObject({ total: 1, has_more: false });

      // Content edits need the current version (body or If-Match); a stale one is refused.
      const renamed = await api.PATCH('/tasks/{task_id}', { params: { path: { task_id: report.id } }, body: { version: 1, title: 'Prepare the Q4 report' } });
      expect(ok(renamed).data.version).toBe(2);
      expect(renamed.response.headers.get('etag')).toBe('"2"');
      const stale = refused(await api.PATCH('/tasks/{task_id}', { params: { path: { task_id: report.id } }, body: { version: 1, priority: 'low' } }), 409, 'CONFLICT');
      expect(stale.current_version).toBe(2);
      const viaIfMatch = ok(await api.PATCH('/tasks/{task_id}', { params: { path: { task_id: report.id }, header: { 'If-Match': '"2"' } }, body: { priority: 'medium' } })).data;
      expect(viaIfMatch).toMatchObject({ priority: 'medium', version: 3 });

      // Subtasks: ordered, reordered, renamed, deleted (the order stays gapless).
      const path = { task_id: report.id };
      const made: string[] = [];
      for (const title of ['Export the figures', 'Draft the summary', 'Review with finance']) made.push(ok(await api.POST('/tasks/{task_id}/subtasks', { params: { path }, body: { title } })).data.id);
      const reordered = ok(await api.PUT('/tasks/{task_id}/subtasks/reorder', { params: { path }, body: { subtask_ids: [made[2]!, made[0]!, made[1]!] } })).data;
      expect(reordered.map((x) => [x.id, x.order_index])).toEqual([[made[2], 0], [made[0], 1], [made[1], 2]]);
      expect(ok(await api.PATCH('/subtasks/{subtask_id}', { params: { path: { subtask_id: made[1]! } }, body: { title: 'Draft the executive summary' } })).data.title).toBe('Draft the executive summary');
      expect(ok(await api.DELETE('/subtasks/{subtask_id}', { params: { path: { subtask_id: made[0]! } } })).data).toEqual({ id: made[0], deleted: true });
      const left = ok(await api.GET('/tasks/{task_id}/subtasks', { params: { path } })).data;
      expect(left.map((x) => [x.id, x.order_index])).toEqual([[made[2], 0], [made[1], 1]]);

      // Completing every subtask completes the task (auto); unchecking it reopens it.
      for (const sub of left) ok(await api.PUT('/subtasks/{subtask_id}', { params: { path: { subtask_id: sub.id } }, body: { completed: true } }));
      const auto = ok(await api.GET('/tasks/{task_id}', { params: { path } })).data;
      expect(auto).toMatchObject({ completed: true, completed_by: 'auto', subtask_count: 2, subtask_completed_count: 2 });
      expect(auto.subtasks.map((x) => x.title)).toEqual(['Review with finance', 'Draft the executive summary']);
      const reopened = ok(await api.PATCH('/tasks/{task_id}', { params: { path }, body: { completed: false } })).data;
      expect(reopened).toMatchObject({ completed: false, completed_at: null, completed_by: null });
      ok(await api.PUT('/subtasks/{subtask_id}', { params: { path: { subtask_id: made[1]! } }, body: { completed: false } }));

      // Force-complete: the task and every open subtask, with one timestamp.
      const forced = ok(await api.POST('/tasks/{task_id}/force-complete', { params: { path }, body: { version: reopened.version } })).data;
      expect(forced.task).toMatchObject({ completed: true, completed_by: 'force', subtask_completed_count: 2 });
      expect(forced.streak).toBeGreaterThanOrEqual(1);

      // Hidden tasks leave the default list; the deleted one leaves a tombstone and is gone.
      ok(await api.PATCH('/tasks/{task_id}', { params: { path: { task_id: dentist.id } }, body: { hidden: true } }));
      expect(ok(await api.GET('/tasks')).data.map((x) => x.id)).toEqual([report.id]);
      expect(ok(await api.GET('/tasks', { params: { query: { hidden: true } } })).data.map((x) => x.id)).toEqual([dentist.id]);
      const deleted = ok(await api.DELETE('/tasks/{task_id}', { params: { path: { task_id: dentist.id } } })).data;
      expect(Date.parse(deleted.recoverable_until)).toBeGreaterThan(Date.now());
      refused(await api.GET('/tasks/{task_id}', { params: { path: { task_id: dentist.id } } }), 404, 'NOT_FOUND');
    },
  ],
  [
    'US3 (P2) keeps recurring tasks: the next instance is generated when one is completed',
    async (s) => {
      const { api } = await s.signIn();
      const start = new Date(Date.now() + DAY);
      start.setUTCHours(9, 0, 0, 0);
      const at = (days: number) => new Date(start.getTime() + days * DAY).toISOString();
      const template = ok(await api.POST('/templates', { body: { title: 'Water the plants', rrule: 'FREQ=DAILY', starts_at: start.toISOString(), estimated_duration: 10 } })).data;
      expect(template).toMatchObject({ rrule_description: 'every day', active: true, next_due: at(1) });
      const instances = async () => ok(await api.GET('/tasks', { params: { query: { limit: 100 } } })).data.filter((x) => x.template_id === template.id);
      const [first] = await instances();
      expect(first).toMatchObject({ title: 'Water the plants', due_date: at(0), estimated_duration: 10 });

      // Completing the instance: the worker generates the next one.
      ok(await api.PATCH('/tasks/{task_id}', { params: { path: { task_id: first!.id } }, body: { completed: true } }));
      await expect.poll(async () => (await instances()).filter((x) => !x.completed).map((x) => x.due_date), poll).toEqual([at(1)]);
      expect(ok(await api.GET('/templates/{template_id}', { params: { path: { template_id: template.id } } })).data.next_due).toBe(at(2));

      // Generated on demand, renamed, paused (then nothing more is generated), deleted.
      const onDemand = ok(await api.POST('/templates/{template_id}/generate', { params: { path: { template_id: template.id } } })).data;
      expect(onDemand).toMatchObject({ template_id: template.id, due_date: at(2) });
      expect(ok(await api.GET('/templates')).data.map((x) => x.id)).toEqual([template.id]);
      const paused = ok(await api.PATCH('/templates/{template_id}', { params: { path: { template_id: template.id } }, body: { title: 'Water the ferns', active: false } })).data;
      expect(paused).toMatchObject({ title: 'Water the ferns', active: false });
      refused(await api.POST('/templates/{template_id}/generate', { params: { path: { template_id: template.id } } }), 409, 'CONFLICT');
      expect(ok(await api.DELETE('/templates/{template_id}', { params: { path: { template_id: template.id } } })).data).toEqual({ id: template.id, deleted: true });
    },
  ],
  [
    'US4 (P2) keeps notes, and voice notes on Pro: transcription, archive, delete',
    async (s) => {
      const { api } = await s.signIn();
      const note = ok(await api.POST('/notes', { body: { content: 'Ideas for the offsite' } })).data;
      expect(note).toMatchObject({ content: 'Ideas for the offsite', archived: false, voice_url: null, voice_duration_seconds: null, transcription_status: null });
      expect(ok(await api.PATCH('/notes/{note_id}', { params: { path: { note_id: note.id } }, body: { content: 'Ideas for the offsite: a boat trip' } })).data.content).toBe('Ideas for the offsite: a boat trip');
      expect(ok(await api.PATCH('/notes/{note_id}', { params: { path: { note_id: note.id } }, body: { archived: true } })).data.archived).toBe(true);
      expect(ok(await api.GET('/notes', { params: { query: { archived: false } } })).data).toEqual([]);
      expect(ok(await api.GET('/notes', { params: { query: { archived: true } } })).data.map((n) => n.id)).toEqual([note.id]);

      // Voice notes are Pro: refused on free, then recorded, transcribed and kept after upgrading.
      const voice = { content: 'Dictated', voice_url: `${host.origin}/standup.webm`, voice_duration_seconds: 42 };
      const tierError = refused(await api.POST('/notes', { body: voice }), 403, 'TIER_REQUIRED');
      expect(tierError.required_tier).toBe('pro');
      await s.becomePro(api);
      dg.prerecorded = { transcript: 'Book the boat for the offsite.', confidence: 0.93, language: 'en' };
      const transcribed = ok(await api.POST('/ai/transcribe', { body: { audio_url: voice.voice_url, duration_seconds: 42 } })).data;
      expect(transcribed).toMatchObject({ transcription: 'Book the boat for the offsite.', language: 'en', confidence: 0.93, credits_used: 5 });
      const voiceNote = ok(await api.POST('/notes', { body: { ...voice, content: transcribed.transcription } })).data;
      expect(voiceNote).toMatchObject({ content: 'Book the boat for the offsite.', voice_url: voice.voice_url, voice_duration_seconds: 42, transcription_status: 'completed' });
      expect(ok(await api.GET('/notes/{note_id}', { params: { path: { note_id: voiceNote.id } } })).data.id).toBe(voiceNote.id);
      const deleted = ok(await api.DELETE('/notes/{note_id}', { params: { path: { note_id: note.id } } })).data;
      expect(deleted.tombstone_id).toEqual(expect.any(String));
      expect(ok(await api.GET('/notes')).data.map((n) => n.id)).toEqual([voiceNote.id]);
    },
  ],
  [
    'US5 (P2) sets reminders that follow the due date and fire into in-app notifications',
    async (s) => {
      const { api, userId } = await s.signIn();
      const due = inDays(2);
      const task = ok(await api.POST('/tasks', { body: { title: 'Send the agenda', due_date: due } })).data;
      const before = ok(await api.POST('/tasks/{task_id}/reminders', { params: { path: { task_id: task.id } }, body: { type: 'before', offset_minutes: 60 } })).data;
      expect(before).toMatchObject({ task_id: task.id, user_id: userId, type: 'before', offset_minutes: -60, scheduled_at: minutesAfter(due, -60), method: 'in_app', fired: false, fired_at: null });
      const after = ok(await api.POST('/reminders', { body: { task_id: task.id, type: 'after', offset_minutes: 30 } })).data;
      expect(after.scheduled_at).toBe(minutesAfter(due, 30));
      expect(ok(await api.GET('/reminders', { params: { query: { task_id: task.id } } })).data).toHaveLength(2);

      // Moving the due date moves the relative reminders (FR-026); a reminder can be edited or removed.
      const later = inDays(3);
      ok(await api.PATCH('/tasks/{task_id}', { params: { path: { task_id: task.id } }, body: { version: task.version, due_date: later } }));
      expect(ok(await api.GET('/reminders/{reminder_id}', { params: { path: { reminder_id: before.id } } })).data.scheduled_at).toBe(minutesAfter(later, -60));
      expect(ok(await api.PATCH('/reminders/{reminder_id}', { params: { path: { reminder_id: before.id } }, body: { offset_minutes: -15 } })).data.scheduled_at).toBe(minutesAfter(later, -15));
      expect(ok(await api.DELETE('/reminders/{reminder_id}', { params: { path: { reminder_id: after.id } } })).data).toEqual({ id: after.id, deleted: true });
      expect(ok(await api.GET('/tasks/{task_id}/reminders', { params: { path: { task_id: task.id } } })).data.map((r) => r.id)).toEqual([before.id]);

      // Two reminders whose time has come fire at once; the notifications arrive unread.
      const overdue = ok(await api.POST('/tasks', { body: { title: 'Pay the invoice', due_date: inDays(1) } })).data;
      const past = new Date(Date.now() - 60_000).toISOString();
      const fired = [
        ok(await api.POST('/tasks/{task_id}/reminders', { params: { path: { task_id: overdue.id } }, body: { type: 'absolute', scheduled_at: past } })).data,
        ok(await api.POST('/tasks/{task_id}/reminders', { params: { path: { task_id: task.id } }, body: { type: 'absolute', scheduled_at: past } })).data,
      ];
      const list = async () => ok(await api.GET('/notifications', { params: { query: { unread_only: true } } }));
      await expect.poll(async () => (await list()).unread_count, poll).toBe(2);
      const unread = await list();
      expect(unread.data.map((n) => n.task_id).sort()).toEqual([overdue.id, task.id].sort());
      expect(unread.data[0]).toMatchObject({ type: 'reminder', title: 'Task Reminder', read: false, read_at: null, message: unread.data[0]!.body });
      for (const r of fired) expect(ok(await api.GET('/reminders/{reminder_id}', { params: { path: { reminder_id: r.id } } })).data).toMatchObject({ fired: true, fired_at: expect.stringMatching(/Z$/) });

      const read = ok(await api.PATCH('/notifications/{notification_id}/read', { params: { path: { notification_id: unread.data[0]!.id } } })).data;
      expect(read).toMatchObject({ read: true, read_at: expect.stringMatching(/Z$/) });
      expect((await list()).unread_count).toBe(1);
      ok(await api.POST('/notifications/read-all'));
      expect((await list()).unread_count).toBe(0);
      expect(ok(await api.DELETE('/notifications/{notification_id}', { params: { path: { notification_id: read.id } } })).data).toEqual({ id: read.id, deleted: true });
      expect(ok(await api.GET('/notifications')).data.map((n) => n.id)).toEqual([unread.data[1]!.id]);
    },
  ],
  [
    'US6 (P3) asks the AI assistant: chat (JSON and SSE), subtask generation, confirmed actions only',
    async (s) => {
      const { api } = await s.signIn();
      expect(ok(await api.GET('/ai/credits')).data).toMatchObject({ tier: 'free', balance: { kickstart: 5, total: 5 } });
      const task = ok(await api.POST('/tasks', { body: { title: 'Plan the team offsite', estimated_duration: 120 } })).data;

      // The chat suggests; nothing changes until the user confirms.
      ai.answer({
        content: 'Start with the venue, and book the dinner.',
        toolCalls: [
          { name: 'suggest_create_subtasks', arguments: { summary: 'Break the offsite down', task_id: task.id, subtasks: [{ title: 'Pick a date' }, { title: 'Book the venue' }] } },
          { name: 'suggest_create_task', arguments: { summary: 'Book the team dinner', task: { title: 'Book the team dinner', priority: 'low' } } },
        ],
      });
      const chat = json(ok(await api.POST('/ai/chat', { body: { message: 'How do I get the offsite done?', task_id: task.id, context: { include_tasks: true } } }))).data;
      expect(chat).toMatchObject({ response: 'Start with the venue, and book the dinner.', credits_used: 1, credits_remaining: 4, ai_request_warning: false });
      expect(chat.suggested_actions.map((a) => a.type)).toEqual(['create_subtasks', 'create_task']);
      expect(ok(await api.GET('/tasks')).data).toHaveLength(1);

      for (const action of chat.suggested_actions) {
        const confirmed = ok(await api.POST('/ai/confirm-action', { body: { action_type: action.type, action_data: action.data } as never })).data;
        expect(confirmed.action_type).toBe(action.type);
      }
      const detail = ok(await api.GET('/tasks/{task_id}', { params: { path: { task_id: task.id } } })).data;
      expect(detail.subtasks.map((x) => [x.title, x.source])).toEqual([['Pick a date', 'ai'], ['Book the venue', 'ai']]);
      expect(ok(await api.GET('/tasks')).data.map((x) => x.title).sort()).toEqual(['Book the team dinner', 'Plan the team offsite']);

      // Subtask generation: suggestions within the room left under the limit (4 on free).
      ai.answer({ json: { subtasks: [{ title: 'Send the invitations' }, { title: 'Plan the agenda' }] } });
      const generated = ok(await api.POST('/ai/generate-subtasks', { body: { task_id: task.id } })).data;
      expect(generated).toMatchObject({ suggested_subtasks: [{ title: 'Send the invitations' }, { title: 'Plan the agenda' }], credits_used: 1, credits_remaining: 3 });
      ok(await api.POST('/ai/confirm-action', { body: { action_type: 'create_subtasks', action_data: { task_id: task.id, subtasks: generated.suggested_subtasks } } }));

      // The streamed answer: delta events, then done with the same result shape.
      ai.answer({ content: 'Everything is planned.' });
      const streamed = await api.POST('/ai/chat', { body: { message: 'Anything left?' }, headers: { accept: 'text/event-stream' }, parseAs: 'text' });
      expect(streamed.response.headers.get('content-type')).toMatch(/^text\/event-stream/);
      const events = parseChatEvents(ok(streamed) as unknown as string);
      expect(events.filter((e) => e.event === 'delta').map((e) => e.data.text).join('')).toBe('Everything is planned.');
      expect(events.at(-1)).toMatchObject({ event: 'done', data: { response: 'Everything is planned.', credits_used: 1, credits_remaining: 2 } });
      expect(ok(await api.GET('/ai/credits')).data.balance.total).toBe(2);
    },
  ],
  [
    'US7 (P3) turns a note into a task: an AI suggestion, then the user’s confirmation',
    async (s) => {
      const { api } = await s.signIn();
      const note = ok(await api.POST('/notes', { body: { content: 'Call the venue about the projector, then send the agenda to Grace.' } })).data;
      const due = inDays(2);
      ai.answer({
        json: {
          title: 'Confirm the projector with the venue',
          description: 'Call the venue, then send the agenda to Grace.',
          priority: 'medium',
          due_date: due,
          estimated_duration: 30,
          subtasks: [{ title: 'Call the venue' }, { title: 'Send the agenda to Grace' }],
          confidence: 0.86,
        },
      });
      const conversion = ok(await api.POST('/notes/{note_id}/convert', { params: { path: { note_id: note.id } } })).data;
      expect(conversion).toMatchObject({ confidence: 0.86, credits_used: 1, credits_remaining: 4, task_suggestion: { title: 'Confirm the projector with the venue', due_date: due } });
      // A suggestion only: no task, the note untouched.
      expect(ok(await api.GET('/tasks')).data).toEqual([]);
      expect(ok(await api.GET('/notes/{note_id}', { params: { path: { note_id: note.id } } })).data.archived).toBe(false);

      const { subtasks, ...fields } = conversion.task_suggestion;
      const created = ok(await api.POST('/ai/confirm-action', { body: { action_type: 'create_task', action_data: fields } })).data.task!;
      expect(created).toMatchObject({ title: fields.title, description: fields.description, due_date: due, estimated_duration: 30 });
      const added = ok(await api.POST('/ai/confirm-action', { body: { action_type: 'create_subtasks', action_data: { task_id: created.id, subtasks } } })).data.subtasks;
      expect(added.map((x) => [x.title, x.order_index, x.source])).toEqual([['Call the venue', 0, 'ai'], ['Send the agenda to Grace', 1, 'ai']]);
      expect(ok(await api.PATCH('/notes/{note_id}', { params: { path: { note_id: note.id } }, body: { archived: true } })).data.archived).toBe(true);
      const achievements = ok(await api.GET('/achievements/me')).data;
      expect(achievements.stats.notes_converted).toBe(1);
      const aiEntries = ok(await api.GET('/activity', { params: { query: { source: 'ai' } } })).data;
      expect(aiEntries.map((e) => e.entity_id)).toContain(created.id);
    },
  ],
  [
    'US8 (P3) spends AI credits from a ledger: balance, history, purchases',
    async (s) => {
      const { api, userId } = await s.signIn();
      expect(ok(await api.GET('/credits/balance')).data).toEqual({ kickstart: 5, daily: 0, subscription: 0, purchased: 0, total: 5 });
      ai.answer({ content: 'Hello.' });
      ok(await api.POST('/ai/chat', { body: { message: 'Hi' } }));
      const history = ok(await api.GET('/credits/history')).data;
      expect(history.map((e) => [e.type, e.category, e.amount, e.balance_after])).toEqual([
        ['deduct', 'ai', -1, 4],
        ['grant', 'kickstart', 5, 5],
      ]);
      expect(history.every((e) => e.user_id === userId)).toBe(true);

      // Pro brings 100 subscription credits; bought credits are charged to the stored card at once.
      await s.becomePro(api);
      const purchase = ok(await api.POST('/subscription/purchase-credits', { body: { amount: 20 } })).data;
      expect(purchase).toMatchObject({ success: true, status: 'completed', credits_purchased: 20, checkout_url: null });
      const balance = ok(await api.GET('/credits/balance')).data;
      expect(balance).toMatchObject({ kickstart: 4, subscription: 100, purchased: 20 });
      expect(balance.total).toBe(purchase.new_balance);
      // Checkout.com's own notice of that capture changes nothing more.
      for (const { delivery } of await app.checkout.flush()) expect(delivery.status).toBe(200);
      expect(ok(await api.GET('/credits/balance')).data).toEqual(balance);

      // Spending takes daily credits first, then subscription, purchased and kickstart ones.
      ok(await api.POST('/ai/chat', { body: { message: 'Hi again' } }));
      expect(ok(await api.GET('/credits/balance')).data).toMatchObject({ kickstart: 4, daily: balance.daily - 1, subscription: 100, purchased: 20 });
      const categories = ok(await api.GET('/credits/history', { params: { query: { limit: 100 } } })).data.map((e) => e.category);
      expect(categories).toEqual(expect.arrayContaining(['purchase', 'subscription', 'ai', 'kickstart']));
    },
  ],
  [
    'US9 (P3) earns achievements and a streak; the unlock comes back with the completion and raises a limit',
    async (s) => {
      const { api } = await s.signIn();
      const definitions = ok(await api.GET('/achievements')).data;
      expect(definitions.map((d) => d.id)).toEqual(expect.arrayContaining(['tasks_5', 'tasks_25', 'tasks_100', 'streak_7', 'streak_30', 'focus_10', 'notes_10']));
      const mine = async () => ok(await api.GET('/achievements/me')).data;
      expect((await mine()).effective_limits.max_tasks).toBe(50);

      const unlocks = [];
      for (let i = 1; i <= 5; i++) {
        const task = ok(await api.POST('/tasks', { body: { title: `Quick win ${i}` } })).data;
        const done = ok(await api.PATCH('/tasks/{task_id}', { params: { path: { task_id: task.id } }, body: { completed: true } }));
        unlocks.push(done.unlocked_achievements ?? []);
      }
      expect(unlocks.slice(0, 4).flat()).toEqual([]);
      expect(unlocks[4]).toEqual([{ id: 'tasks_5', name: 'Task Starter', description: 'Complete 5 tasks.', achievement_id: 'tasks_5', achievement_name: 'Task Starter', perk: { type: 'max_tasks', value: 15 } }]);

      const after = await mine();
      expect(after.unlocked).toEqual(['tasks_5']);
      expect(after.stats).toMatchObject({ lifetime_tasks_completed: 5, current_streak: 1, longest_streak: 1 });
      expect(after.effective_limits.max_tasks).toBe(65);
      expect(after.progress.find((p) => p.id === 'tasks_25')).toMatchObject({ current: 5, threshold: 25, unlocked: false });
      // The unlock is also in the notification bell.
      const bell = ok(await api.GET('/notifications')).data;
      expect(bell.map((n) => n.type)).toEqual(['achievement']);
    },
  ],
  [
    'US10 (P4) subscribes to Pro through Checkout.com, then cancels at the end of the period',
    async (s) => {
      const { api } = await s.signIn();
      expect(ok(await api.GET('/subscription')).data).toMatchObject({ tier: 'free', status: null, current_period_end: null, cancel_at_period_end: false, features: { voice_notes: false, max_subtasks: 4 } });
      const checkout = ok(await api.POST('/subscription/checkout')).data;
      expect(checkout.checkout_url).toMatch(/^https:\/\/pay\.checkout\.com\//);
      // Nothing changes until Checkout.com confirms the payment.
      expect(ok(await api.GET('/subscription')).data.tier).toBe('free');
      const paid = await app.checkout.payHostedPage(checkout.session_id);
      expect(paid.delivery).toMatchObject({ status: 200, body: { received: true, processed: true, reason: null } });
      // A repeated delivery is recognised and changes nothing.
      expect((await app.checkout.deliver(paid.event)).body).toEqual({ received: true, processed: false, reason: 'duplicate' });

      const pro = ok(await api.GET('/subscription')).data;
      expect(pro).toMatchObject({ tier: 'pro', status: 'active', cancel_at_period_end: false, features: { voice_notes: true, max_subtasks: 10 } });
      expect(Date.parse(pro.current_period_end!)).toBeGreaterThan(Date.now() + 25 * DAY);
      expect(ok(await api.GET('/users/me')).data.tier).toBe('pro');
      expect(ok(await api.GET('/credits/balance')).data.subscription).toBe(100);

      const cancelled = ok(await api.POST('/subscription/cancel', { body: {} })).data;
      expect(cancelled).toEqual({ status: 'cancelled', access_until: pro.current_period_end });
      expect(ok(await api.GET('/subscription')).data).toMatchObject({ tier: 'pro', status: 'cancelled', cancel_at_period_end: true });
      refused(await api.POST('/subscription/cancel', { body: {} }), 409, 'CONFLICT');
    },
  ],
  [
    'US11 (P4) recovers deleted tasks and notes from the three newest tombstones',
    async (s) => {
      const { api } = await s.signIn();
      const task = ok(await api.POST('/tasks', { body: { title: 'Renew the passport', due_date: inDays(5) } })).data;
      for (const title of ['Take the photos', 'Fill in the form']) ok(await api.POST('/tasks/{task_id}/subtasks', { params: { path: { task_id: task.id } }, body: { title } }));
      ok(await api.POST('/tasks/{task_id}/reminders', { params: { path: { task_id: task.id } }, body: { type: 'before', offset_minutes: 60 } }));
      const original = ok(await api.GET('/tasks/{task_id}', { params: { path: { task_id: task.id } } })).data;
      const note = ok(await api.POST('/notes', { body: { content: 'Passport number is in the drawer' } })).data;

      const taskTomb = ok(await api.DELETE('/tasks/{task_id}', { params: { path: { task_id: task.id } } })).data;
      const noteTomb = ok(await api.DELETE('/notes/{note_id}', { params: { path: { note_id: note.id } } })).data;
      const tombstones = ok(await api.GET('/recovery/tombstones')).data;
      expect(tombstones.map((x) => [x.id, x.entity_type, x.entity_id])).toEqual([
        [noteTomb.tombstone_id, 'note', note.id],
        [taskTomb.tombstone_id, 'task', task.id],
      ]);

      // Recovery restores the same id, timestamps, subtasks and reminders.
      const recovered = ok(await api.POST('/tasks/recover/{tombstone_id}', { params: { path: { tombstone_id: taskTomb.tombstone_id } } })).data;
      expect(recovered.id).toBe(task.id);
      const restored = ok(await api.GET('/tasks/{task_id}', { params: { path: { task_id: task.id } } })).data;
      expect({ ...restored, updated_at: original.updated_at }).toEqual(original);
      expect(ok(await api.POST('/notes/recover/{tombstone_id}', { params: { path: { tombstone_id: noteTomb.tombstone_id } } })).data).toMatchObject({ id: note.id, content: note.content, created_at: note.created_at });
      expect(ok(await api.GET('/recovery/tombstones')).data).toEqual([]);

      // Only the three newest deletions can be recovered.
      const doomed = [];
      for (let i = 0; i < 4; i++) doomed.push(ok(await api.POST('/tasks', { body: { title: `Old errand ${i}` } })).data);
      const tombs = [];
      for (const d of doomed) tombs.push(ok(await api.DELETE('/tasks/{task_id}', { params: { path: { task_id: d.id } } })).data.tombstone_id);
      expect(ok(await api.GET('/recovery/tombstones')).data.map((x) => x.id)).toEqual(tombs.slice(1).reverse());
      refused(await api.POST('/tasks/recover/{tombstone_id}', { params: { path: { tombstone_id: tombs[0]! } } }), 404, 'NOT_FOUND');
    },
  ],
  [
    'US12 (P4) focuses on a task: the server measures the session and adds it to the task',
    async (s) => {
      const { api, userId } = await s.signIn();
      const task = ok(await api.POST('/tasks', { body: { title: 'Write the design doc', estimated_duration: 60 } })).data;
      const other = ok(await api.POST('/tasks', { body: { title: 'Answer the emails' } })).data;
      const started = ok(await api.POST('/focus/start', { body: { task_id: task.id } })).data;
      expect(started).toMatchObject({ user_id: userId, task_id: task.id, ended_at: null, duration_seconds: null });
      // One open session at a time.
      refused(await api.POST('/focus/start', { body: { task_id: other.id } }), 409, 'CONFLICT');
      await new Promise((r) => setTimeout(r, 1100));
      const ended = ok(await api.POST('/focus/end', { body: { task_id: task.id } })).data;
      expect(ended.id).toBe(started.id);
      expect(ended.duration_seconds).toBeGreaterThanOrEqual(1);
      expect(Date.parse(ended.ended_at!) - Date.parse(ended.started_at)).toBeGreaterThanOrEqual(1000);
      expect(ok(await api.GET('/tasks/{task_id}', { params: { path: { task_id: task.id } } })).data.focus_time_seconds).toBe(ended.duration_seconds);
      // Nothing is open any more.
      refused(await api.POST('/focus/end', { body: { task_id: task.id } }), 404, 'NOT_FOUND');
      // Now the other task may be focused on.
      expect(ok(await api.POST('/focus/start', { body: { task_id: other.id } })).data.task_id).toBe(other.id);
    },
  ],
  [
    'US13 (P4) gets reminders as Web Push on every browser, and reads what happened in the activity log',
    async (s) => {
      const { api } = await s.signIn();
      const browser = app.pushService.subscribe();
      const registered = await api.POST('/notifications/push-subscription', { body: browser });
      expect(registered.response.status).toBe(201);
      // Registering the same browser again updates it.
      expect((await api.POST('/notifications/push-subscription', { body: browser })).response.status).toBe(200);

      const task = ok(await api.POST('/tasks', { body: { title: 'Take the medicine' } })).data;
      ok(await api.POST('/tasks/{task_id}/reminders', { params: { path: { task_id: task.id } }, body: { type: 'absolute', scheduled_at: new Date(Date.now() - 1000).toISOString(), method: 'push' } }));
      await expect.poll(() => app.pushService.deliveriesTo(browser.endpoint).length, poll).toBe(1);
      const [push] = app.pushService.deliveriesTo(browser.endpoint);
      expect(push!.payload).toMatchObject({ type: 'reminder', title: 'Task Reminder', task_id: task.id, url: `/tasks/${task.id}` });
      const [notification] = ok(await api.GET('/notifications')).data;
      expect(push!.payload.notification_id).toBe(notification!.id);
      expect(ok(await api.DELETE('/notifications/push-subscription', { params: { query: { endpoint: browser.endpoint } } })).data).toMatchObject({ deleted: true });

      // The activity log: what was done to the task, by whom, in which request.
      const entries = ok(await api.GET('/activity', { params: { query: { entity_type: 'task', entity_id: task.id } } })).data;
      expect(entries.map((e) => e.action)).toContain('task_created');
      expect(entries.every((e) => e.source === 'user' && e.entity_id === task.id)).toBe(true);
      expect(entries.find((e) => e.action === 'task_created')!.request_id).toEqual(expect.any(String));
      const reminders = ok(await api.GET('/activity', { params: { query: { entity_type: 'reminder' } } })).data;
      expect(reminders.map((e) => [e.action, e.source])).toEqual(expect.arrayContaining([['reminder_fired', 'system'], ['reminder_created', 'user']]));
    },
  ],
];

for (const [title, story] of stories) {
  describe(title, () => {
    it('end to end against the API', () => story(session('direct')));
    it('the same, through prism proxy --errors: no contract violation', () => story(session('prism')));
  });
}

describe('prism proxy', () => {
  it('saw every story’s requests and reported no violation', () => {
    expect(violations).toEqual([]);
    // The runs through Prism made (about: polls vary) as many calls as the direct ones.
    expect(requestsDirect).toBeGreaterThan(150);
    expect(requestsThroughPrism).toBeGreaterThan(requestsDirect * 0.9);
  });
});
