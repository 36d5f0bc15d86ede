import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeAudioHost, webmBytes, type FakeAudioHost } from '../fakes/audio-host.js';
import { startFakeCheckout, type FakeCheckout } from '../fakes/checkout.js';
import { startFakeDeepgram, type FakeDeepgram } from '../fakes/deepgram.js';
import { startFakeGoogle, type FakeGoogle } from '../fakes/google.js';
import { startFakeOpenAI, type FakeOpenAI } from '../fakes/openai.js';
import { startFakePushService, type FakePushService } from '../fakes/push-service.js';
import { TEST_TLS_CERT } from '../fakes/tls.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { arbitraryFromSchema, bodyMutations, brokenValues, parameterAccepts, dateTimeArbitrary, validatorFor, type JsonSchema, type Override } from '../helpers/arbitraries.js';
import type { ApiResponse } from '../helpers/client.js';
import { giveCredits } from '../helpers/credits.js';
import { changedTables, databaseDigest, type DatabaseDigest } from '../helpers/db-snapshot.js';
import { doc, operations, resolveRef, type Operation } from '../helpers/operations.js';
import { createNotifications, createOwned, createPersonalToken, isOwnedIdKind, type OwnedIdKind } from '../helpers/resources.js';
import { signUp, type TestUser } from '../helpers/users.js';

// Property-based tests of every operation in openapi.yaml, generated from the contract itself.
// For each operation two properties:
//   valid   — requests whose path, query, headers and body the contract accepts (values drawn from
//             its JSON schemas; ids of real resources of the caller, now and then someone else's or
//             nobody's);
//   broken  — the same requests broken one thing at a time: every field of the body in every way
//             its schema forbids (wrong type, null, out of range, too short/long, off-pattern, bad
//             format — timestamps without a zone among them —, not in the enum, unknown field,
//             required field missing), malformed JSON, a JSON array or string instead of an object,
//             invalid UTF-8, a NUL character, the wrong content type, no body, bad path ids, bad or
//             unknown query parameters, a missing or bad Idempotency-Key, a bad If-Match.
//             Each of these is tried once (fast-check `examples`), then a few more at random.
// Both assert: never a 5xx; every answer matches the contract (TestClient checks each one); a
// rejected request (4xx) changed nothing in the database. Broken requests must be rejected (4xx).
//
// "Changed nothing" is checked with `databaseDigest`, taken after every request: per table its row
// count and the newest row version's transaction id (`max(xmin)`), in one round trip of ~3 ms.
// Any insert, update or delete changes it — also one that leaves `updated_at` alone, which a digest
// of counts plus max(updated_at) would miss — and it costs a sixth of hashing every row (or of a
// full `snapshotDatabase`), which is what lets every request be checked. The digest after one
// request is the "before" of the next: nothing else writes to this database (no worker runs while
// the properties do).
//
// Providers are the local fakes (OpenAI, Deepgram, Checkout.com, Google, a push service, a host of
// audio files): nothing leaves 127.0.0.1, and URL fields only name 127.0.0.1, TEST-NET addresses or
// `.invalid` hosts.
//
// Replaying a failure: every property logs its seed; a failure also logs its path. Run
//   FC_SEED=<seed> FC_PATH=<path> npx vitest run tests/fuzz -t '<operationId> <valid|broken>'
// FUZZ_RUNS=<n> raises the number of random runs per property for a deep local run.

const SEED = process.env.FC_SEED !== undefined ? Number(process.env.FC_SEED) : (Date.now() ^ (Math.random() * 0x1_0000_0000)) | 0;
const PATH = process.env.FC_PATH || undefined;
const DEEP_RUNS = process.env.FUZZ_RUNS ? Number(process.env.FUZZ_RUNS) : undefined;
/** Random valid requests per operation (each operation also gets one run per broken field). */
const VALID_RUNS = DEEP_RUNS ?? 8;
/** Random broken requests per operation on top of trying every way to break it once. */
const EXTRA_BROKEN_RUNS = DEEP_RUNS ?? 2;

/**
 * Rejections that write, on purpose: replaying a rotated refresh token revokes its whole session
 * (RFC 9700 §4.14.2) and still answers 401.
 */
const WRITING_REJECTIONS: Record<string, { status: number; tables: string[] }> = {
  refreshSession: { status: 401, tables: ['refresh_tokens'] },
};

let t: TestApp;
let ai: FakeOpenAI;
let dg: FakeDeepgram;
let audio: FakeAudioHost;
let google: FakeGoogle;
let checkout: FakeCheckout;
let push: FakePushService;
let stranger: TestUser;
/** Owns the notifications (they need the worker, which only runs before the properties). */
let notifier: TestUser;
let notificationIds: string[] = [];

beforeAll(async () => {
  [ai, dg, audio, google, checkout, push] = await Promise.all([startFakeOpenAI(), startFakeDeepgram(), startFakeAudioHost(), startFakeGoogle(), startFakeCheckout(), startFakePushService()]);
  const vapid = (await import('web-push')).default.generateVAPIDKeys();
  t = await startTestApp({
    env: {
      OPENAI_API_KEY: ai.apiKey,
      OPENAI_BASE_URL: ai.baseUrl,
      DEEPGRAM_API_KEY: dg.apiKey,
      DEEPGRAM_URL: dg.baseUrl,
      TRANSCRIBE_ALLOW_LOOPBACK: 'true',
      TRANSCRIBE_EXTRA_CA_CERTS: TEST_TLS_CERT,
      GOOGLE_CLIENT_ID: google.clientId,
      GOOGLE_JWKS_URL: google.jwksUrl,
      CHECKOUT_SECRET_KEY: checkout.secretKey,
      CHECKOUT_WEBHOOK_SECRET: checkout.webhookSecret,
      CHECKOUT_API_URL: checkout.url,
      VAPID_PUBLIC_KEY: vapid.publicKey,
      VAPID_PRIVATE_KEY: vapid.privateKey,
      VAPID_CONTACT_EMAIL: 'ops@example.com',
      WEB_PUSH_EXTRA_CA_CERTS: push.ca,
      PUSH_ALLOW_LOOPBACK: 'true',
      // The worker runs only while the notifications are made; /health/ready stays ready after.
      WORKER_HEARTBEAT_STALE_SECONDS: '3600',
    },
  });
  ai.answer((req) => {
    const schema = req.response_format?.json_schema?.name;
    if (schema === 'subtask_suggestions') return { json: { subtasks: [{ title: 'Collect the figures' }, { title: 'Draft the summary' }] } };
    if (schema === 'task_suggestion') {
      return { json: { title: 'Call the venue', description: 'About the projector.', priority: 'medium', due_date: null, estimated_duration: 15, subtasks: [{ title: 'Find the number' }], confidence: 0.8 } };
    }
    return { content: 'Here is a plan: start with the smallest step.' };
  });
  audio.serve('/voice.webm', { body: webmBytes(16_000 * 12), contentType: 'audio/webm' });
  audio.serve('/notes.txt', { body: 'not audio', contentType: 'text/plain' });
  [stranger, notifier] = await Promise.all([signUp(t, { name: 'Stranger' }), signUp(t, { name: 'Notified', tier: 'pro' })]);
  const worker = await t.startWorker();
  try {
    notificationIds = (await createNotifications(notifier, 6)).map((n) => n.id);
  } finally {
    await worker.stop();
  }
  // The worker deletes its heartbeat when it stops: one that "beats" keeps /health/ready at 200.
  await t.db.insertInto('worker_heartbeats').values({ worker_id: 'fuzz', hostname: 'fuzz', pid: process.pid }).execute();
  console.log(`[fuzz] seed ${SEED}${PATH ? `, replaying path ${PATH}` : ''}: ${VALID_RUNS} valid runs per operation, every broken field once plus ${EXTRA_BROKEN_RUNS} at random`);
}, 60_000);

afterAll(async () => {
  await t?.close();
  await Promise.all([ai?.close(), dg?.close(), audio?.close(), google?.close(), checkout?.close(), push?.close()]);
});

// ------------------------------------------------------------------------------------ fixtures

interface Fixture {
  /** Replaced when deleteCurrentUser deleted it. */
  owner: TestUser;
  ids: Partial<Record<OwnedIdKind, string[]>>;
  /** The subtasks of each of the fixture's tasks (for reorderSubtasks), in order. */
  subtasksByTask: string[][];
  refreshTokens: string[];
  /** Browser subscriptions of the fake push service; the first is registered when the operation takes an endpoint. */
  pushSubscriptions: ReturnType<FakePushService['subscribe']>[];
  /** The secret of the owner's calendar feed, for operations that take one in the path. */
  calendarFeedTokens: string[];
  /** A personal access token of the owner's with every scope (caller `token`), for bearer operations. */
  personalToken: string | null;
}

/** Every scope a personal access token may have (the contract's TokenScope). */
const ALL_SCOPES: string[] = doc.components.schemas.TokenScope.enum;
const personalTokenOf = async (op: Operation, owner: TestUser) => (op.info.authenticated ? (await createPersonalToken(owner, ALL_SCOPES)).token : null);

/** A Pro owner with credits and two of each kind of resource the operation names; notifications are the notifier's. */
async function fixtureFor(op: Operation): Promise<Fixture> {
  const usesNotifications = op.pathParams.includes('notification_id');
  const owner = usesNotifications ? notifier : await signUp(t, { tier: 'pro', name: 'Owner' });
  if (!usesNotifications) await giveCredits(t, owner.id, 'purchased', 500);
  const pushSubscriptions = [push.subscribe(), push.subscribe(), push.subscribe()];
  const fixture: Fixture = { owner, ids: {}, subtasksByTask: [], refreshTokens: [owner.refreshToken], pushSubscriptions, calendarFeedTokens: [], personalToken: await personalTokenOf(op, owner) };
  if (op.pathParams.includes('token')) {
    const res = await owner.api.post('/calendar/feed');
    expect(res.status, res.text).toBe(201);
    fixture.calendarFeedTokens.push(/\/calendar\/([^/]+)\.ics$/.exec(res.body.data.url)![1]!);
  }
  if (op.queryParams.some((q) => q.name === 'endpoint')) {
    const res = await owner.api.post('/notifications/push-subscription', pushSubscriptions[0]);
    expect(res.status, res.text).toBe(201);
  }
  if (usesNotifications) fixture.ids.notification_id = notificationIds;
  const body = JSON.stringify(op.bodySchema ? resolveDeep(op.bodySchema) : {});
  const kinds = new Set(op.pathParams.filter(isOwnedIdKind));
  if (body.includes('"task_id"') || op.queryParams.some((q) => q.name === 'task_id' || q.name === 'entity_id')) kinds.add('task_id');
  if (body.includes('"subtask_ids"')) {
    // The path's task and the body's subtasks belong together.
    kinds.delete('task_id');
    for (let i = 0; i < 2; i++) {
      const sub = (await createOwned(owner, 'subtask_id')) as Awaited<ReturnType<typeof createOwned>> & { taskId: string };
      (fixture.ids.task_id ??= []).push(sub.taskId);
      const list = await owner.api.get(`/tasks/${sub.taskId}/subtasks`);
      fixture.subtasksByTask.push(list.body.data.map((s: { id: string }) => s.id));
    }
  }
  for (const kind of kinds) {
    if (kind === 'notification_id') continue;
    for (let i = 0; i < 2; i++) {
      const r = await createOwned(owner, kind, { tombstoneOf: op.info.path.startsWith('/notes/') ? 'note' : 'task' });
      (fixture.ids[kind] ??= []).push(r.id);
    }
  }
  return fixture;
}

/** The schema with every `$ref` followed (for looking up which fields an operation has). */
function resolveDeep(schema: unknown, depth = 0): unknown {
  if (depth > 12 || !schema || typeof schema !== 'object') return schema;
  if (Array.isArray(schema)) return schema.map((s) => resolveDeep(s, depth + 1));
  const s = schema as Record<string, unknown>;
  if (typeof s.$ref === 'string') {
    return resolveDeep(resolveRef(s), depth + 1);
  }
  return Object.fromEntries(Object.entries(s).filter(([k]) => k !== 'examples' && k !== 'example').map(([k, v]) => [k, resolveDeep(v, depth + 1)]));
}

// ------------------------------------------------------------------------------------ requests

/** `token`: the owner's personal access token with every scope (an operation that refuses tokens answers 403). */
type Caller = 'owner' | 'token' | 'stranger' | 'anonymous';

interface FuzzRequest {
  /** `valid`, or what was broken. */
  label: string;
  caller: Caller;
  path: string;
  query: Record<string, string>;
  headers: Record<string, string>;
  body?: unknown;
  /** Sent as is instead of JSON-encoding `body` (with `headers['content-type']`). */
  rawBody?: string | Buffer;
  /** undefined: a fresh key when the operation takes one; null: none. */
  idempotencyKey?: string | null;
  /** Webhooks: sign the bytes sent (`valid`), or send a forged or no signature. */
  signature?: 'valid' | 'forged' | 'none';
  /** The contract (or a rule of the service) refuses this request: it must be a 4xx. */
  mustReject: boolean;
}

const LOCAL_ONLY_URLS = (paths: string[]) =>
  fc.constantFrom(
    ...paths,
    'https://audio.invalid/recording.webm', // .invalid never resolves (RFC 6761)
    'https://192.0.2.10/recording.webm', // TEST-NET-1: refused before any connection
    'https://10.0.0.1/recording.webm',
    'https://[::1]:9/recording.webm',
  );

const RRULES = ['FREQ=DAILY', 'FREQ=WEEKLY;BYDAY=MO,WE,FR', 'FREQ=MONTHLY;BYMONTHDAY=31', 'FREQ=DAILY;INTERVAL=2;COUNT=3', 'FREQ=YEARLY', 'FREQ=HOURLY', 'FREQ=MINUTELY;INTERVAL=1', 'FREQ=DAILY;UNTIL=20200101T000000Z', 'FREQ=WEEKLY;BYDAY=SU;BYSETPOS=-1'];
/** Natural-language due dates: readable ones, one past the 30-day window, a daylight-saving gap, and unreadable ones. */
const DUE_STRINGS = ['tomorrow 5pm', 'next friday', 'in 3 days', 'in 90 minutes', 'today', 'yesterday 9am', 'sunday 2:30am', 'tomorrow 17:00 UTC', 'in 40 days', 'next year', 'someday', 'friday or saturday', 'buy milk tomorrow'];
const TIMEZONES = ['UTC', 'Europe/Paris', 'America/New_York', 'Asia/Kathmandu', 'Pacific/Chatham', 'Etc/GMT+12', 'America/Argentina/Buenos_Aires'];

/** Field generators that keep requests meaningful (real ids, local URLs, plausible versions) and local. */
function overridesFor(op: Operation, fx: Fixture): Override {
  const { pushSubscriptions } = fx;
  const ids = (kind: OwnedIdKind) => fx.ids[kind] ?? [];
  const someId = (kind: OwnedIdKind) => (ids(kind).length ? fc.oneof({ weight: 6, arbitrary: fc.constantFrom(...ids(kind)) }, { weight: 1, arbitrary: fc.uuid() }) : fc.uuid());
  return (schema: JsonSchema, ctx) => {
    if (op.id === 'handleCheckoutWebhook' && ctx.path.length === 0) return webhookEventArbitrary(fx);
    switch (ctx.name) {
      case 'task_id':
      case 'entity_id':
        return someId('task_id');
      case 'subtask_ids':
        if (!fx.subtasksByTask.length) return undefined;
        return fc.oneof(
          // A new order of one task's subtasks (right when the path names that task), …
          { weight: 4, arbitrary: fc.constantFrom(...fx.subtasksByTask).chain((ids) => fc.shuffledSubarray(ids, { minLength: ids.length, maxLength: ids.length })) },
          // … some of them, or some of two tasks', or nobody's.
          { weight: 1, arbitrary: fc.shuffledSubarray(fx.subtasksByTask.flat(), { minLength: 1 }) },
          { weight: 1, arbitrary: fc.uniqueArray(fc.uuid(), { minLength: 1, maxLength: 3 }) },
        );
      case 'version':
        // Resources start at version 1 and move up by one per change.
        return fc.oneof({ weight: 4, arbitrary: fc.integer({ min: 1, max: 3 }) }, { weight: 1, arbitrary: fc.integer({ min: 1, max: 2_147_483_647 }) });
      case 'due_string':
        return fc.oneof({ weight: 3, arbitrary: fc.constantFrom(...DUE_STRINGS) }, { weight: 1, arbitrary: arbitraryFromSchema(schema) });
      case 'rrule':
        return fc.oneof({ weight: 3, arbitrary: fc.constantFrom(...RRULES) }, { weight: 1, arbitrary: arbitraryFromSchema({ ...schema, pattern: schema.pattern }) });
      case 'timezone':
        return fc.oneof({ weight: 3, arbitrary: fc.constantFrom(...TIMEZONES) }, { weight: 1, arbitrary: arbitraryFromSchema(schema) });
      case 'audio_url':
      case 'voice_url':
        return LOCAL_ONLY_URLS([`${audio.origin}/voice.webm`, `${audio.origin}/voice.webm`, `${audio.origin}/missing.webm`, `${audio.origin}/notes.txt`]);
      case 'endpoint':
        return LOCAL_ONLY_URLS(pushSubscriptions.map((s) => s.endpoint));
      case 'url':
        // Webhook URLs: loopback ones pass the address check (PUSH_ALLOW_LOOPBACK; nothing listens
        // on port 9 and no worker runs), the others are refused before anything is stored.
        return op.info.path.startsWith('/webhooks') ? LOCAL_ONLY_URLS(['https://127.0.0.1:9/hooks/a', 'https://[::1]:9/hooks/b', 'http://127.0.0.1:9/hooks/c']) : undefined;
      case 'p256dh_key':
        return fc.oneof({ weight: 3, arbitrary: fc.constantFrom(...pushSubscriptions.map((s) => s.p256dh_key)) }, { weight: 1, arbitrary: arbitraryFromSchema(schema) });
      case 'auth_key':
        return fc.oneof({ weight: 3, arbitrary: fc.constantFrom(...pushSubscriptions.map((s) => s.auth_key)) }, { weight: 1, arbitrary: arbitraryFromSchema(schema) });
      case 'id_token':
        return fc.oneof(
          { weight: 2, arbitrary: fc.record({ sub: fc.stringMatching(/^\d{21}$/), email: fc.emailAddress(), name: fc.string({ maxLength: 40 }) }).map((c) => google.signIdToken({ ...c, email: c.email.slice(-200) })) },
          { weight: 1, arbitrary: arbitraryFromSchema(schema) },
        );
      case 'refresh_token':
        return fc.oneof({ weight: 2, arbitrary: fc.constantFrom(...fx.refreshTokens) }, { weight: 1, arbitrary: arbitraryFromSchema(schema) });
      case 'ticket':
        // GET /events' one-use ticket: random text almost never matches `^pfevt_…{43}$`, which the
        // generic generator's text branch would filter for forever.
        return fc.stringMatching(/^pfevt_[A-Za-z0-9_-]{43}$/);
      case 'token':
        // The WebSocket's ?token= is an access token (a JWT, ASCII). The contract allows any 4096
        // characters, but 4096 non-ASCII ones percent-encode past Node's 16 KB header limit and get
        // an undocumented 431 (reported; tests/abuse covers oversized headers).
        return fc.oneof(fc.constant(fx.owner.token), fc.stringMatching(/^[A-Za-z0-9_-]{1,400}\.[A-Za-z0-9_-]{1,400}\.[A-Za-z0-9_-]{0,400}$/));
      case 'email':
        return fc.oneof({ weight: 1, arbitrary: fc.constant(fx.owner.email) }, { weight: 3, arbitrary: fc.emailAddress().filter((e) => e.length <= 254 && validatorFor(schema)(e)) });
      case 'confirm':
        // deleteCurrentUser: now and then the right confirmation (the current owner's email, read
        // when the request is drawn: a deleted owner is replaced, see check()), else a wrong one.
        if (op.id !== 'deleteCurrentUser') return undefined;
        return fc.oneof({ weight: 1, arbitrary: fc.constant(null).map(() => fx.owner.email) }, { weight: 2, arbitrary: arbitraryFromSchema(schema) });
      default:
        return undefined;
    }
  };
}

/** A Checkout.com event as its webhooks send them, about the owner (or nobody), of the kinds the service acts on and others. */
function webhookEventArbitrary(fx: Fixture): fc.Arbitrary<unknown> {
  const hex = (n: number) => fc.stringMatching(new RegExp(`^[0-9a-f]{${n}}$`));
  return fc
    .record(
      {
        id: fc.oneof(hex(26).map((h) => `evt_${h}`), fc.constantFrom('evt_repeated_1', 'evt_repeated_2')),
        type: fc.constantFrom('payment_captured', 'payment_declined', 'subscription_cancelled', 'payment_approved', 'card_verified'),
        created_on: dateTimeArbitrary({ min: new Date(Date.now() - 90 * 86_400_000), max: new Date(Date.now() + 86_400_000) }),
        data: fc.record(
          {
            id: hex(26).map((h) => `pay_${h}`),
            amount: fc.integer({ min: 0, max: 100_000 }),
            currency: fc.constantFrom('USD', 'EUR'),
            response_summary: fc.string({ maxLength: 40 }),
            source: fc.record({ id: hex(26).map((h) => `src_${h}`) }),
            customer: fc.record({ id: hex(26).map((h) => `cus_${h}`) }),
            metadata: fc.record(
              {
                user_id: fc.oneof({ weight: 4, arbitrary: fc.constant(fx.owner.id) }, { weight: 1, arbitrary: fc.uuid() }, { weight: 1, arbitrary: fc.string() }),
                purchase_id: fc.uuid(),
                kind: fc.constantFrom('subscription', 'renewal', 'credits'),
              },
              { requiredKeys: ['user_id'] },
            ),
          },
          { requiredKeys: ['metadata'] },
        ),
      },
      { requiredKeys: ['id', 'type', 'data'] },
    );
}

interface Generators {
  fixture: Fixture;
  /** A valid request from the owner (what broken requests start from), optionally with a body of one oneOf branch. */
  ownerRequest(branch?: JsonSchema): fc.Arbitrary<FuzzRequest>;
  /** A valid request from anyone. */
  anyRequest: fc.Arbitrary<FuzzRequest>;
}

function generatorsFor(op: Operation, fx: Fixture): Generators {
  const override = overridesFor(op, fx);
  const header = (name: string) => op.params.find((p) => p.in === 'header' && p.name.toLowerCase() === name);

  const pathIds = fc.record(
    Object.fromEntries(
      op.params
        .filter((p) => p.in === 'path')
        .map((p) => {
          const own = isOwnedIdKind(p.name) ? fx.ids[p.name] ?? [] : p.name === 'token' ? fx.calendarFeedTokens : [];
          const ownIds = own.length ? fc.constantFrom(...own) : fc.uuid();
          // Mostly the caller's own ids; sometimes in capitals (still a uuid), sometimes nobody's.
          return [p.name, fc.oneof({ weight: 6, arbitrary: ownIds }, { weight: 1, arbitrary: ownIds.map((id) => id.toUpperCase()) }, { weight: 1, arbitrary: fc.uuid() })];
        }),
    ),
  ) as fc.Arbitrary<Record<string, string>>;

  const query = fc.record(
    Object.fromEntries(
      op.params
        .filter((p) => p.in === 'query')
        .map((p) => [p.name, arbitraryFromSchema(p.schema, { override }, { name: p.name, path: [p.name] }).map((v) => String(v))]),
    ),
    { requiredKeys: op.params.filter((p) => p.in === 'query' && p.required).map((p) => p.name) },
  ) as fc.Arbitrary<Record<string, string>>;

  const ifMatch = header('if-match')
    ? fc.option(fc.tuple(fc.integer({ min: 1, max: 3 }), fc.boolean()).map(([v, weak]) => `${weak ? 'W/' : ''}"${v}"`), { nil: undefined, freq: 3 })
    : fc.constant(undefined);
  const idempotencyKey: fc.Arbitrary<string | undefined> = op.info.idempotent
    ? fc.oneof({ weight: 8, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: fc.constantFrom('fuzz-key-1', 'fuzz-key-2') })
    : fc.constant(undefined);

  const bodyOf = (schema: JsonSchema | undefined): fc.Arbitrary<unknown> => {
    if (!schema) return fc.constant(undefined);
    const wholeBody = validatorFor(op.bodySchema);
    const body = arbitraryFromSchema(schema, { override }).filter((b) => wholeBody(b));
    return op.bodyRequired ? body : fc.option(body, { nil: undefined, freq: 4 });
  };

  const request = (caller: fc.Arbitrary<Caller>, branch?: JsonSchema) =>
    fc
      .record({ caller, ids: pathIds, query, ifMatch, idempotencyKey, body: bodyOf(branch ?? op.bodySchema), signature: fc.constantFrom<'valid' | 'forged' | 'none'>('valid', 'valid', 'valid', 'forged', 'none') })
      .map(
        (r): FuzzRequest => ({
          label: 'valid',
          caller: r.caller,
          path: op.info.path.replace(/\{(\w+)\}/g, (_m, name: string) => r.ids[name]!),
          query: r.query,
          headers: r.ifMatch ? { 'if-match': r.ifMatch } : {},
          body: r.body,
          idempotencyKey: r.idempotencyKey,
          signature: op.id === 'handleCheckoutWebhook' ? r.signature : undefined,
          mustReject: false,
        }),
      );

  const callers: fc.WeightedArbitrary<Caller>[] = [{ weight: 8, arbitrary: fc.constant<Caller>('owner') }, { weight: 1, arbitrary: fc.constant<Caller>('stranger') }];
  if (op.info.authenticated) callers.push({ weight: 1, arbitrary: fc.constant<Caller>('anonymous') }, { weight: 2, arbitrary: fc.constant<Caller>('token') });
  return {
    fixture: fx,
    ownerRequest: (branch) => request(fc.constant<Caller>('owner'), branch),
    anyRequest: request(fc.oneof(...callers)),
  };
}

interface BrokenSite {
  label: string;
  branch?: JsonSchema;
  apply(request: FuzzRequest): FuzzRequest;
}

const broken = (request: FuzzRequest, label: string, change: Partial<FuzzRequest>): FuzzRequest => ({ ...request, ...change, label, mustReject: true });

/** Every way to break a request to `op`, one at a time. */
function brokenSites(op: Operation): BrokenSite[] {
  const sites: BrokenSite[] = [];
  const json = (r: FuzzRequest) => JSON.stringify(r.body ?? {});
  if (op.bodySchema) {
    for (const m of bodyMutations(op.bodySchema)) {
      sites.push({ label: m.label, branch: m.branch, apply: (r) => broken(r, m.label, { body: m.apply(r.body ?? {}) }) });
    }
    sites.push(
      { label: 'malformed JSON (cut short)', apply: (r) => broken(r, 'malformed JSON (cut short)', { rawBody: json(r).slice(0, -1), headers: { ...r.headers, 'content-type': 'application/json' } }) },
      { label: 'malformed JSON (single quotes)', apply: (r) => broken(r, 'malformed JSON (single quotes)', { rawBody: "{'a': 1}", headers: { ...r.headers, 'content-type': 'application/json' } }) },
      { label: 'a JSON array instead of an object', apply: (r) => broken(r, 'a JSON array instead of an object', { body: [r.body ?? {}] }) },
      { label: 'a JSON string instead of an object', apply: (r) => broken(r, 'a JSON string instead of an object', { rawBody: '"text"', headers: { ...r.headers, 'content-type': 'application/json' } }) },
      { label: 'Content-Type text/plain', apply: (r) => broken(r, 'Content-Type text/plain', { rawBody: json(r), headers: { ...r.headers, 'content-type': 'text/plain' } }) },
      { label: 'a form-encoded body', apply: (r) => broken(r, 'a form-encoded body', { rawBody: 'title=x&content=y', headers: { ...r.headers, 'content-type': 'application/x-www-form-urlencoded' } }) },
      {
        label: 'invalid UTF-8 bytes in a string',
        apply: (r) => {
          const text = json(r);
          // Inside the first string value (else inside the first key): `"title":"Ab` → `"title":"<FF FE>Ab`
          const value = /"(?:[^"\\]|\\.)*"\s*:\s*"/.exec(text);
          const at = value ? value.index + value[0].length : text.indexOf('"') + 1;
          return broken(r, 'invalid UTF-8 bytes in a string', { rawBody: Buffer.concat([Buffer.from(text.slice(0, at)), Buffer.from([0xff, 0xfe]), Buffer.from(text.slice(at))]), headers: { ...r.headers, 'content-type': 'application/json' } });
        },
      },
    );
    const firstString = Object.entries<any>(resolveRef(op.bodySchema).properties ?? {}).find(([, prop]) => {
      const s = resolveRef(prop);
      return s?.type === 'string' && !s.format && !s.enum && !s.pattern?.startsWith('^');
    });
    if (firstString) {
      const [name] = firstString;
      sites.push({ label: `body.${name}: contains U+0000`, apply: (r) => broken(r, `body.${name}: contains U+0000`, { body: { ...(r.body as object), [name]: 'before\u0000after' } }) });
    }
    if (op.bodyRequired) sites.push({ label: 'no body', apply: (r) => broken(r, 'no body', { body: undefined }) });
  } else if (!['GET', 'HEAD'].includes(op.info.method)) {
    sites.push({ label: 'a body the operation does not take', apply: (r) => broken(r, 'a body the operation does not take', { body: { unexpected: true } }) });
  }
  for (const p of op.params) {
    if (p.in === 'path') {
      for (const bad of ['not-a-uuid', '0193f1a2-7c4e-7b8a-9c1d-2e3f4a5b6c7']) {
        const label = `path.${p.name}: ${bad}`;
        sites.push({ label, apply: (r) => broken(r, label, { path: replacePathParam(op, r.path, p.name, bad) }) });
      }
    }
    if (p.in === 'query') {
      for (const b of brokenValues(p.schema)) {
        if (b.value === null || typeof b.value === 'object' || parameterAccepts(p.schema, String(b.value))) continue;
        const label = `query.${p.name}: ${b.label}`;
        sites.push({ label, apply: (r) => broken(r, label, { query: { ...r.query, [p.name]: String(b.value) } }) });
      }
      if (p.schema?.type === 'boolean') sites.push({ label: `query.${p.name}: "maybe"`, apply: (r) => broken(r, `query.${p.name}: "maybe"`, { query: { ...r.query, [p.name]: 'maybe' } }) });
      if (p.required) {
        sites.push({
          label: `query.${p.name}: missing`,
          apply: (r) => {
            const { [p.name]: _gone, ...rest } = r.query;
            return broken(r, `query.${p.name}: missing`, { query: rest });
          },
        });
      }
    }
    if (p.in === 'header' && p.name.toLowerCase() === 'idempotency-key') {
      if (p.required) sites.push({ label: 'no Idempotency-Key', apply: (r) => broken(r, 'no Idempotency-Key', { idempotencyKey: null }) });
      sites.push({ label: 'an Idempotency-Key with a space', apply: (r) => broken(r, 'an Idempotency-Key with a space', { idempotencyKey: 'has a space' }) });
      sites.push({ label: 'an Idempotency-Key of 256 characters', apply: (r) => broken(r, 'an Idempotency-Key of 256 characters', { idempotencyKey: 'k'.repeat(256) }) });
    }
    if (p.in === 'header' && p.name.toLowerCase() === 'if-match') {
      sites.push({ label: 'If-Match without quotes', apply: (r) => broken(r, 'If-Match without quotes', { headers: { ...r.headers, 'if-match': '3' } }) });
    }
  }
  if (!op.websocket) sites.push({ label: 'an unknown query parameter', apply: (r) => broken(r, 'an unknown query parameter', { query: { ...r.query, unexpected_param: '1' } }) });
  if (op.id === 'handleCheckoutWebhook') {
    sites.push({ label: 'a forged signature', apply: (r) => broken(r, 'a forged signature', { signature: 'forged' }) });
    sites.push({ label: 'no signature', apply: (r) => broken(r, 'no signature', { signature: 'none' }) });
  }
  return sites;
}

function replacePathParam(op: Operation, path: string, name: string, value: string): string {
  const names = [...op.info.path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]);
  const template = op.info.path.split('/');
  const actual = path.split('/');
  // A segment may hold more than the parameter (`{token}.ics`): only the parameter's part changes.
  return template
    .map((seg, i) => {
      if (!seg.includes(`{${name}}`) || !names.includes(name)) return actual[i];
      const [before, after] = seg.split(`{${name}}`) as [string, string];
      return `${before}${value}${after}`;
    })
    .join('/');
}

// ------------------------------------------------------------------------------------ sending

let lastDigest: DatabaseDigest;

function tokenOf(caller: Caller, fx: Fixture): string | null {
  return caller === 'owner' ? fx.owner.token : caller === 'token' ? fx.personalToken : caller === 'stranger' ? stranger.token : null;
}

async function send(op: Operation, fx: Fixture, r: FuzzRequest): Promise<ApiResponse> {
  const headers = { ...r.headers };
  let rawBody = r.rawBody;
  if (op.id === 'handleCheckoutWebhook' && r.signature) {
    rawBody ??= r.body === undefined ? undefined : JSON.stringify(r.body);
    if (rawBody !== undefined && !headers['content-type']) headers['content-type'] = 'application/json';
    if (r.signature === 'valid' && rawBody !== undefined) headers['cko-signature'] = checkout.sign(rawBody);
    if (r.signature === 'forged') headers['cko-signature'] = checkout.sign(rawBody ?? '', 'not-the-secret');
  }
  return t.api.request(op.info.method, r.path, {
    token: tokenOf(r.caller, fx),
    query: r.query,
    headers,
    ...(rawBody !== undefined ? { rawBody } : r.body !== undefined ? { body: r.body } : {}),
    idempotencyKey: op.info.idempotent ? r.idempotencyKey : null,
  });
}

/** The properties' assertion: no 5xx, a refusal when one is due, and a refusal changed nothing. */
async function check(op: Operation, fx: Fixture, r: FuzzRequest): Promise<void> {
  const res = await send(op, fx, r); // TestClient fails the run if the answer leaves the contract
  const what = `${op.id} ${r.label} → ${res.status} ${res.text.slice(0, 300)}`;
  expect(res.status, `a 5xx: ${what}`).toBeLessThan(500);
  if (r.mustReject) expect(res.status, `not refused: ${what}`).toBeGreaterThanOrEqual(400);
  if (op.id === 'deleteCurrentUser' && res.status === 200) {
    // The account is gone (each property's owner is its own throwaway user, never the stranger or
    // the notifier): later runs get a new one, so they are not all 401s.
    expect(await t.db.selectFrom('users').select('id').where('id', '=', fx.owner.id).executeTakeFirst(), what).toBeUndefined();
    fx.owner = await signUp(t, { tier: 'pro', name: 'Owner' });
    fx.personalToken = await personalTokenOf(op, fx.owner);
  }
  const after = await databaseDigest(t);
  const changed = changedTables(lastDigest, after);
  lastDigest = after;
  if (res.status >= 400) {
    const allowed = WRITING_REJECTIONS[op.id];
    const unexpected = allowed && allowed.status === res.status ? changed.filter((table) => !allowed.tables.includes(table)) : changed;
    expect(unexpected, `a refused request changed the database: ${what}`).toEqual([]);
  }
}

async function runProperty(name: string, property: fc.IAsyncPropertyWithHooks<[FuzzRequest]>, params: fc.Parameters<[FuzzRequest]>): Promise<void> {
  const details = await fc.check(property, { seed: SEED, ...(PATH ? { path: PATH, endOnFailure: true } : {}), ...params });
  const replay = `FC_SEED=${details.seed} FC_PATH=${details.counterexamplePath ?? '<path>'} npx vitest run tests/fuzz -t '${name}'`;
  console.log(`[fuzz] ${name}: seed ${details.seed}, ${details.numRuns} runs${details.numSkips ? `, ${details.numSkips} skipped` : ''}, ${details.failed ? `FAILED at path ${details.counterexamplePath}` : 'ok'} · replay: ${replay}`);
  if (details.failed) {
    const cause = details.errorInstance;
    const request = JSON.stringify(details.counterexample?.[0], (_k, v) => (typeof v === 'string' && v.length > 200 ? `${v.slice(0, 200)}…(${v.length} characters)` : v));
    throw new Error(`${name}: ${cause instanceof Error ? cause.message : String(cause)}\nrequest: ${request}\n(shrunk ${details.numShrinks} times) replay: ${replay}`, { cause });
  }
}

// ------------------------------------------------------------------------------------ properties

const fuzzed = new Set<string>();

for (const op of operations) {
  describe(`${op.id} (${op.info.method} ${op.info.path})`, () => {
    it(`${op.id} valid`, async () => {
      const fx = await fixtureFor(op);
      const gen = generatorsFor(op, fx);
      lastDigest = await databaseDigest(t);
      // An operation that takes nothing varies only by caller.
      const takesInput = op.params.some((p) => p.in !== 'header') || op.bodySchema !== undefined;
      await runProperty(`${op.id} valid`, fc.asyncProperty(gen.anyRequest, (r) => check(op, fx, r)), { numRuns: takesInput ? VALID_RUNS : Math.min(VALID_RUNS, 3) });
      fuzzed.add(`${op.id} valid`);
    });

    it(`${op.id} broken`, async () => {
      const fx = await fixtureFor(op);
      const gen = generatorsFor(op, fx);
      const sites = brokenSites(op);
      const brokenRequest = (site: BrokenSite) => gen.ownerRequest(site.branch).map((r) => site.apply(r));
      // Every site once (the same requests for a seed), then a few at random.
      const examples = sites.map((site, i) => fc.sample(brokenRequest(site), { seed: SEED + i, numRuns: 1 }) as [FuzzRequest]);
      lastDigest = await databaseDigest(t);
      await runProperty(`${op.id} broken`, fc.asyncProperty(fc.constantFrom(...sites).chain(brokenRequest), (r) => check(op, fx, r)), {
        numRuns: examples.length + EXTRA_BROKEN_RUNS, // examples count as runs
        examples,
      });
      fuzzed.add(`${op.id} broken`);
    });
  });
}

describe('coverage', () => {
  it('fuzzed every operation of the contract', () => {
    if (PATH) return; // a replay runs one property
    const missing = operations.flatMap((op) => [`${op.id} valid`, `${op.id} broken`]).filter((name) => !fuzzed.has(name));
    expect(missing, 'properties that did not run').toEqual([]);
  });
});
