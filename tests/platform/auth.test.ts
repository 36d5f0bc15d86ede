import { generateKeyPairSync } from 'node:crypto';
import jwt from 'jsonwebtoken';
import { sql } from 'kysely';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, testKeyPair, type TestApp } from '../helpers/app.js';
import { generateSigningKeys } from '../../src/domain/auth/signing-keys.js';
import { startFakeGoogle, type FakeGoogle } from '../fakes/google.js';
import { signUp } from '../helpers/users.js';

let t: TestApp;
/** A second process on t's database whose refresh-reuse grace is 1 s instead of the default 10 s. */
let shortGrace: TestApp;
const GRACE_MS = 1000;
let google: FakeGoogle;

beforeAll(async () => {
  google = await startFakeGoogle();
  t = await startTestApp({ env: { GOOGLE_CLIENT_ID: google.clientId, GOOGLE_JWKS_URL: google.jwksUrl } });
  shortGrace = await startTestApp({ databaseUrl: t.databaseUrl, env: { JWT_REFRESH_REUSE_GRACE_SECONDS: String(GRACE_MS / 1000) } });
});
afterAll(async () => {
  await shortGrace?.close();
  await t?.close();
  await google?.close();
});

const signIn = (idToken: string) => t.api.post('/auth/google/callback', { id_token: idToken });

describe('signInWithGoogle', () => {
  it('creates the user on first sign-in and returns a working session', async () => {
    const res = await signIn(google.signIdToken({ sub: 'g-1', email: 'grace@example.com', name: 'Grace Hopper' }));
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ token_type: 'Bearer', expires_in: 900, user: { email: 'grace@example.com', name: 'Grace Hopper', tier: 'free' } });
    const me = await t.api.get('/users/me', { token: res.body.access_token });
    expect(me.body.data).toMatchObject({ id: res.body.user.id, google_id: 'g-1', email: 'grace@example.com', timezone: 'UTC' });
  });

  it('signs the same Google account into the same user and keeps a name the user chose', async () => {
    const first = await signIn(google.signIdToken({ sub: 'g-2', email: 'alan@example.com', name: 'Alan' }));
    await t.api.patch('/users/me', { name: 'Alan Turing' }, { token: first.body.access_token });
    const second = await signIn(google.signIdToken({ sub: 'g-2', email: 'alan@example.com', name: 'Alan From Google' }));
    expect(second.body.user.id).toBe(first.body.user.id);
    expect(second.body.user.name).toBe('Alan Turing');
  });

  it('ends the earlier session when the user signs in again (one session per user)', async () => {
    const first = await signIn(google.signIdToken({ sub: 'g-3', email: 'one@example.com' }));
    await signIn(google.signIdToken({ sub: 'g-3', email: 'one@example.com' }));
    const refresh = await t.api.post('/auth/refresh', { refresh_token: first.body.refresh_token });
    expect(refresh.status).toBe(401);
    expect(refresh.body.error.code).toBe('INVALID_REFRESH_TOKEN');
  });

  it.each([
    ['another audience', () => google.signIdToken({ aud: 'someone-else' })],
    ['another issuer', () => google.signIdToken({ iss: 'https://evil.example' })],
    ['an unverified email', () => google.signIdToken({ email_verified: false })],
    ['an expired token', () => google.signIdToken({}, { expiresIn: -60 })],
    ['an unknown key id', () => google.signIdToken({}, { kid: 'nope' })],
    ['a key Google does not have', () => google.signIdToken({}, { key: generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey })],
    ['an unsigned token', () => jwt.sign({ sub: 'x', email: 'x@example.com', aud: google.clientId, iss: 'https://accounts.google.com' }, '', { algorithm: 'none' })],
    ['garbage', () => 'not-a-jwt'],
  ])('rejects %s with 401 and creates no user', async (_label, make) => {
    const before = await t.db.selectFrom('users').select(t.db.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
    const res = await signIn(make());
    expect(res.status).toBe(401);
    expect(res.body.error.code).toBe('UNAUTHORIZED');
    const after = await t.db.selectFrom('users').select(t.db.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
    expect(after.n).toBe(before.n);
  });

  it('refuses an email that belongs to another Google account with 409', async () => {
    await signIn(google.signIdToken({ sub: 'g-4', email: 'taken@example.com' }));
    const res = await signIn(google.signIdToken({ sub: 'g-5', email: 'TAKEN@example.com' }));
    expect(res.status).toBe(409);
    expect(res.body.error.code).toBe('CONFLICT');
  });

  it('caches Google keys instead of fetching them per sign-in', async () => {
    const before = google.jwksRequests;
    await signIn(google.signIdToken({ sub: 'g-6', email: 'cache@example.com' }));
    await signIn(google.signIdToken({ sub: 'g-6', email: 'cache@example.com' }));
    expect(google.jwksRequests - before).toBe(0);
  });
});

describe('without Google configured', () => {
  it('answers 503 naming the missing variable and still starts', async () => {
    const bare = await startTestApp();
    try {
      const res = await bare.api.post('/auth/google/callback', { id_token: google.signIdToken({}) });
      expect(res.status).toBe(503);
      expect(res.body.error.message).toContain('GOOGLE_CLIENT_ID');
    } finally {
      await bare.close();
    }
  });
});

describe('devLogin', () => {
  it('is 404 unless AUTH_DEV_LOGIN is on, and never in production', async () => {
    const off = await startTestApp({ env: { AUTH_DEV_LOGIN: 'false' } });
    try {
      const res = await off.api.post('/auth/dev/login', { email: 'dev@example.com' });
      expect(res.status).toBe(404);
    } finally {
      await off.close();
    }
  });

  it('does not sign into an account that belongs to Google', async () => {
    await signIn(google.signIdToken({ sub: 'g-7', email: 'real@example.com' }));
    const res = await t.api.post('/auth/dev/login', { email: 'real@example.com' });
    expect(res.status).toBe(409);
  });
});

describe('access tokens', () => {
  it('carries the documented claims, verifiable with /.well-known/jwks.json', async () => {
    const user = await signUp(t);
    const jwks = await t.api.get('/.well-known/jwks.json');
    const [key] = jwks.body.keys;
    const decoded = jwt.decode(user.token, { complete: true })!;
    expect(decoded.header).toMatchObject({ alg: 'RS256', kid: key.kid });
    const { createPublicKey } = await import('node:crypto');
    const payload = jwt.verify(user.token, createPublicKey({ key, format: 'jwk' }), { algorithms: ['RS256'] }) as jwt.JwtPayload;
    expect(payload).toMatchObject({ sub: user.id, email: user.email, tier: 'free', iss: 'perpetua-flow', aud: 'perpetua-flow-api' });
    expect(payload.sid).toMatch(/^[0-9a-f-]{36}$/);
    expect(payload.exp! - payload.iat!).toBe(900);
  });

  it('answers an expired token with 401 TOKEN_EXPIRED and refresh_required', async () => {
    const user = await signUp(t);
    const expired = jwt.sign({ email: user.email, tier: 'free', sid: 'x' }, t.deps.tokens.keys.privateKey, {
      algorithm: 'RS256', keyid: t.deps.tokens.keys.kid, subject: user.id, issuer: 'perpetua-flow', audience: 'perpetua-flow-api', expiresIn: -10,
    });
    const res = await t.api.get('/users/me', { token: expired });
    expect(res.status).toBe(401);
    expect(res.body.error).toMatchObject({ code: 'TOKEN_EXPIRED', refresh_required: true });
  });

  it('rejects HS256 tokens signed with the public key, unsigned tokens and tampered payloads', async () => {
    const user = await signUp(t);
    const publicPem = t.deps.tokens.keys.publicKey.export({ type: 'spki', format: 'pem' }).toString();
    const claims = { sub: user.id, email: user.email, tier: 'pro', sid: 'x', iss: 'perpetua-flow', aud: 'perpetua-flow-api' };
    const hs = jwt.sign(claims, publicPem, { algorithm: 'HS256', keyid: t.deps.tokens.keys.kid });
    const none = jwt.sign(claims, '', { algorithm: 'none' });
    const [header, payload, signature] = user.token.split('.');
    const tamperedPayload = Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(payload!, 'base64url').toString()), tier: 'pro' })).toString('base64url');
    const tampered = `${header}.${tamperedPayload}.${signature}`;
    for (const token of [hs, none, tampered, `${user.token}x`]) {
      const res = await t.api.get('/users/me', { token });
      expect(res.status).toBe(401);
      expect(res.body.error.code).toBe('UNAUTHORIZED');
    }
  });

  describe('claims checked beyond the signature (defence in depth)', () => {
    const now = () => Math.floor(Date.now() / 1000);
    /** A token signed with the service's own key: only the claims can be wrong. */
    const craft = (user: { id: string; token: string }, claims: Record<string, unknown>, opts: jwt.SignOptions = {}) =>
      jwt.sign(Object.fromEntries(Object.entries({ email: 'x@example.com', tier: 'free', sid: (jwt.decode(user.token) as jwt.JwtPayload).sid, iat: now(), ...claims }).filter(([, v]) => v !== undefined)), t.deps.tokens.keys.privateKey, {
        algorithm: 'RS256', keyid: t.deps.tokens.keys.kid, subject: user.id, issuer: 'perpetua-flow', audience: 'perpetua-flow-api', ...opts,
      });

    it.each([
      ['no exp', {}, {}],
      ['no iat', { iat: undefined }, { expiresIn: 600, noTimestamp: true }],
      ['an iat in the future', { iat: now() + 600 }, { expiresIn: 1200 }],
      ['an nbf in the future', { nbf: now() + 600 }, { expiresIn: 1200 }],
      ['a sub that is not a UUID', {}, { expiresIn: 600, subject: 'not-a-uuid' }],
      ['a sid that is not a UUID', { sid: 'not-a-uuid' }, { expiresIn: 600 }],
    ])('answers a token with %s 401 UNAUTHORIZED', async (_label, claims, opts) => {
      const user = await signUp(t);
      const res = await t.api.get('/users/me', { token: craft(user, claims, opts as jwt.SignOptions) });
      expect(res.status, res.text).toBe(401);
      expect(res.body.error.code).toBe('UNAUTHORIZED');
    });

    it('accepts an iat and nbf a few seconds ahead (clock skew between servers)', async () => {
      const user = await signUp(t);
      const res = await t.api.get('/users/me', { token: craft(user, { iat: now() + 5, nbf: now() + 5 }, { expiresIn: 600 }) });
      expect(res.status, res.text).toBe(200);
    });
  });

  it('rejects a malformed Authorization header', async () => {
    const res = await t.api.get('/users/me', { token: null, headers: { authorization: 'Basic abc' } });
    expect(res.status).toBe(401);
  });
});

describe('signing key rotation', () => {
  it('keeps verifying tokens of the previous key and publishes both keys', async () => {
    const user = await signUp(t);
    const next = generateSigningKeys();
    const rotated = await startTestApp({
      databaseUrl: t.databaseUrl,
      env: { JWT_PRIVATE_KEY: next.privatePem, JWT_PUBLIC_KEY: next.publicPem, JWT_PREVIOUS_PUBLIC_KEY: testKeyPair().publicPem },
    });
    try {
      const jwks = await rotated.api.get('/.well-known/jwks.json');
      expect(jwks.body.keys).toHaveLength(2);
      expect(jwks.body.keys[1].kid).toBe(t.deps.tokens.keys.kid);
      // A token from before the rotation still works; new tokens carry the new kid.
      expect((await rotated.api.get('/users/me', { token: user.token })).status).toBe(200);
      const fresh = await rotated.api.post('/auth/refresh', { refresh_token: user.refreshToken });
      expect(jwt.decode(fresh.body.access_token, { complete: true })!.header.kid).toBe(jwks.body.keys[0].kid);
      // Once the previous key is dropped, its tokens stop working.
      const after = await startTestApp({ databaseUrl: t.databaseUrl, env: { JWT_PRIVATE_KEY: next.privatePem, JWT_PUBLIC_KEY: next.publicPem } });
      try {
        expect((await after.api.get('/users/me', { token: user.token })).status).toBe(401);
      } finally {
        await after.close();
      }
    } finally {
      await rotated.close();
    }
  });
});

describe('refreshSession and logout', () => {
  it('rotates both tokens; the old refresh token stops working', async () => {
    const user = await signUp(t);
    const first = await t.api.post('/auth/refresh', { refresh_token: user.refreshToken });
    expect(first.status).toBe(200);
    expect(first.body.refresh_token).not.toBe(user.refreshToken);
    expect(jwt.decode(first.body.access_token)).toMatchObject({ sub: user.id, sid: (jwt.decode(user.token) as jwt.JwtPayload).sid });
    const me = await t.api.get('/users/me', { token: first.body.access_token });
    expect(me.status).toBe(200);
  });

  it('treats a refresh token reused after the grace as theft and revokes the whole session, access tokens included', async () => {
    const user = await signUp(t);
    const rotated = await shortGrace.api.post('/auth/refresh', { refresh_token: user.refreshToken });
    expect(rotated.status).toBe(200);
    await sleep(GRACE_MS + 200);
    const replay = await shortGrace.api.post('/auth/refresh', { refresh_token: user.refreshToken });
    expect(replay.status).toBe(401);
    expect(replay.body.error).toMatchObject({ code: 'INVALID_REFRESH_TOKEN', refresh_required: true });
    // The thief's replay also ended the legitimate holder's newer tokens.
    const legit = await shortGrace.api.post('/auth/refresh', { refresh_token: rotated.body.refresh_token });
    expect(legit.status).toBe(401);
    for (const token of [user.token, rotated.body.access_token]) expect((await shortGrace.api.get('/users/me', { token })).status).toBe(401);
  });

  it('gives every refresh within the grace (tabs refreshing at once) the same new pair of the same session, which keeps working', async () => {
    const user = await signUp(t);
    const results = await Promise.all(Array.from({ length: 5 }, () => t.api.post('/auth/refresh', { refresh_token: user.refreshToken })));
    expect(results.map((r) => r.status)).toEqual([200, 200, 200, 200, 200]);
    const sid = (jwt.decode(user.token) as jwt.JwtPayload).sid;
    expect(new Set(results.map((r) => r.body.refresh_token)).size).toBe(1);
    for (const r of results) {
      expect((jwt.decode(r.body.access_token) as jwt.JwtPayload).sid).toBe(sid);
      expect((await t.api.get('/users/me', { token: r.body.access_token })).status).toBe(200);
    }
    // No session was ended and no second one begun: one family, one live refresh token.
    const rows = await t.db.selectFrom('refresh_tokens').select(['family_id', 'revoked_at', 'revoked_reason']).where('user_id', '=', user.id).execute();
    expect(new Set(rows.map((r) => r.family_id))).toEqual(new Set([sid]));
    expect(rows.filter((r) => r.revoked_at === null)).toHaveLength(1);
    expect(rows.filter((r) => r.revoked_reason === 'reuse_detected')).toHaveLength(0);
    const next = await t.api.post('/auth/refresh', { refresh_token: results[0]!.body.refresh_token });
    expect(next.status).toBe(200);
  });

  it('ends what the grace handed out with its session: a logout revokes the pair a late tab got', async () => {
    const user = await signUp(t);
    const winner = await t.api.post('/auth/refresh', { refresh_token: user.refreshToken });
    const late = await t.api.post('/auth/refresh', { refresh_token: user.refreshToken });
    expect(late.status).toBe(200);
    expect((await t.api.post('/auth/logout', { refresh_token: winner.body.refresh_token })).status).toBe(200);
    expect((await t.api.post('/auth/refresh', { refresh_token: late.body.refresh_token })).status).toBe(401);
    expect((await t.api.get('/users/me', { token: late.body.access_token })).status).toBe(401);
    // Nor does the grace reopen an ended session.
    const again = await t.api.post('/auth/refresh', { refresh_token: user.refreshToken });
    expect(again.status).toBe(401);
  });

  it('rejects an unknown or expired refresh token, saying a new sign-in is required', async () => {
    const unknown = await t.api.post('/auth/refresh', { refresh_token: 'rt_unknown' });
    expect(unknown.status).toBe(401);
    expect(unknown.body.error).toMatchObject({ code: 'INVALID_REFRESH_TOKEN', refresh_required: true });
    const user = await signUp(t);
    await t.db.updateTable('refresh_tokens').set({ expires_at: new Date(Date.now() - 1000) }).where('user_id', '=', user.id).execute();
    const expired = await t.api.post('/auth/refresh', { refresh_token: user.refreshToken });
    expect(expired.status).toBe(401);
  });

  it('logout answers 200 {data: null} (the frontend parses every answer as JSON) and ends the session; an unknown token gets the same', async () => {
    const user = await signUp(t);
    const out = await t.api.post('/auth/logout', { refresh_token: user.refreshToken });
    expect(out.status).toBe(200);
    expect(out.body).toEqual({ data: null });
    const refresh = await t.api.post('/auth/refresh', { refresh_token: user.refreshToken });
    expect(refresh.status).toBe(401);
    const unknown = await t.api.post('/auth/logout', { refresh_token: 'rt_nobody' });
    expect(unknown.status).toBe(200);
    expect(unknown.body).toEqual({ data: null });
  });
});

describe('access tokens of an ended session', () => {
  it('stop working at once after logout, on this process and on another that had them in memory', async () => {
    const other = await startTestApp({ databaseUrl: t.databaseUrl });
    try {
      const user = await signUp(t);
      const onBoth = [t.api.as(user.token), other.api.as(user.token)];
      for (const api of onBoth) expect((await api.get('/tasks')).status).toBe(200);
      expect((await t.api.post('/auth/logout', { refresh_token: user.refreshToken })).status).toBe(200);
      const gone = await t.api.as(user.token).get('/tasks');
      expect(gone.status).toBe(401);
      expect(gone.body.error.code).toBe('UNAUTHORIZED');
      await expect.poll(async () => (await other.api.as(user.token).get('/tasks')).status, { timeout: 2000, interval: 20 }).toBe(401);
    } finally {
      await other.close();
    }
  });

  it('stop working when a new sign-in replaces the session (one session per user); the new one works', async () => {
    const user = await signUp(t);
    expect((await user.api.get('/tasks')).status).toBe(200);
    const again = await signUp(t, { email: user.email });
    expect((await user.api.get('/tasks')).status).toBe(401);
    expect((await again.api.get('/tasks')).status).toBe(200);
  });

  it('stop working when the session is revoked by hand in the database', async () => {
    const user = await signUp(t);
    expect((await user.api.get('/tasks')).status).toBe(200);
    await t.db.updateTable('refresh_tokens').set({ revoked_at: new Date(), revoked_reason: 'logout' }).where('user_id', '=', user.id).execute();
    await expect.poll(async () => (await user.api.get('/tasks')).status, { timeout: 2000, interval: 20 }).toBe(401);
  });

  it('stop working at once on a process that cannot listen for ended sessions: it asks the database every time', async () => {
    const deaf = await startTestApp({ databaseUrl: t.databaseUrl });
    try {
      await deaf.deps.liveKeys.close(); // as behind a transaction pooler, where LISTEN hears nothing
      const user = await signUp(t);
      const api = deaf.api.as(user.token);
      expect((await api.get('/tasks')).status).toBe(200);
      await t.db.updateTable('refresh_tokens').set({ revoked_at: new Date(), revoked_reason: 'logout' }).where('user_id', '=', user.id).execute();
      expect((await api.get('/tasks')).status).toBe(401);
    } finally {
      await deaf.close();
    }
  });

  it('are checked from memory, not with a query per request: a revocation that notifies nobody goes unseen', async () => {
    const user = await signUp(t);
    expect((await user.api.get('/tasks')).status).toBe(200);
    // With triggers off (replication role) the database changes but no process is told.
    await t.db.transaction().execute(async (trx) => {
      await sql`set local session_replication_role = replica`.execute(trx);
      await trx.updateTable('refresh_tokens').set({ revoked_at: new Date(), revoked_reason: 'logout' }).where('user_id', '=', user.id).execute();
    });
    expect((await user.api.get('/tasks')).status).toBe(200);
    t.deps.liveSessions.forget((jwt.decode(user.token) as jwt.JwtPayload).sid);
    expect((await user.api.get('/tasks')).status).toBe(401);
  });

  it('keep working across a rotation: a refresh does not end the session', async () => {
    const user = await signUp(t);
    expect((await t.api.post('/auth/refresh', { refresh_token: user.refreshToken })).status).toBe(200);
    expect((await user.api.get('/tasks')).status).toBe(200);
  });
});
