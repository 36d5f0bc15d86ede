import { describe, expect, it } from 'vitest';
import { signAccessToken } from '../../../src/domain/auth/access-tokens.js';
import { generateSigningKeys, signingKeysFromPem } from '../../../src/domain/auth/signing-keys.js';
import { authenticate, type AuthenticateDeps } from '../../../src/http/pipeline/authenticate.js';

const pair = generateSigningKeys();
const keys = signingKeysFromPem({ privatePem: pair.privatePem, publicPem: pair.publicPem });
const access = { issuer: 'test-issuer', audience: 'test-audience', expiresInSeconds: 900 };
const USER = '00000000-0000-4000-8000-000000000001';
const SESSION = '00000000-0000-4000-8000-000000000002';
const token = signAccessToken(keys, access, { sub: USER, email: 'a@example.com', tier: 'free', sid: SESSION });

const live = (ids: string[]) => ({ isLive: async (id: string) => ids.includes(id), forget: () => {} });
const PAT = `pfpat_${'x'.repeat(43)}`;
const TOKEN_ID = '00000000-0000-4000-8000-000000000003';
/** Personal tokens: PAT is the user's, with tasks:read and notes:read. */
const personalTokens = {
  verify: async (bearer: string) => {
    if (bearer !== PAT) throw Object.assign(new Error('Invalid personal access token'), { code: 'UNAUTHORIZED' });
    return { tokenId: TOKEN_ID, userId: USER, email: 'a@example.com', tier: 'free', scopes: ['tasks:read', 'notes:read'] };
  },
};
/** An operation that takes no personal tokens (the default). */
const none = { tokenScopes: null, tokenOnly: false };
const deps = (accounts: string[], sessions: string[]) => ({ tokens: { keys, access }, liveAccounts: live(accounts), liveSessions: live(sessions), personalTokens }) as unknown as AuthenticateDeps;
/** Deps the step must not reach: a header problem answers before any key or database is asked. */
const untouchable = new Proxy({}, { get: () => { throw new Error('reached the token check'); } }) as AuthenticateDeps;

describe('pipeline step: authenticate', () => {
  it('answers 401 without an Authorization header', async () => {
    await expect(authenticate({}, untouchable)).rejects.toMatchObject({ code: 'UNAUTHORIZED', message: 'Authentication required' });
  });

  it('answers 401 naming the expected form for a header that is not "Bearer <token>"', async () => {
    for (const authorization of ['Basic dXNlcjpwYXNz', 'Bearer', 'Bearer a b', 'token']) {
      await expect(authenticate({ authorization }, untouchable)).rejects.toMatchObject({ code: 'UNAUTHORIZED', message: 'Authorization must be "Bearer <access token>"' });
    }
  });

  it('answers 401 for a token it did not sign', async () => {
    const other = generateSigningKeys();
    const forged = signAccessToken(signingKeysFromPem({ privatePem: other.privatePem, publicPem: other.publicPem }), access, { sub: USER, email: 'a@example.com', tier: 'free', sid: SESSION });
    await expect(authenticate({ authorization: `Bearer ${forged}` }, deps([USER], [SESSION]))).rejects.toMatchObject({ code: 'UNAUTHORIZED' });
  });

  it('returns the caller of a valid token, the scheme case-insensitive', async () => {
    const auth = await authenticate({ authorization: `bearer ${token} ` }, deps([USER], [SESSION]));
    expect(auth).toMatchObject({ userId: USER, email: 'a@example.com', tier: 'free', sessionId: SESSION });
  });

  it('answers 401 when the account is gone or the session has ended', async () => {
    await expect(authenticate({ authorization: `Bearer ${token}` }, deps([], [SESSION]))).rejects.toMatchObject({ code: 'UNAUTHORIZED', message: 'The account no longer exists' });
    await expect(authenticate({ authorization: `Bearer ${token}` }, deps([USER], []))).rejects.toMatchObject({ code: 'UNAUTHORIZED', message: 'The session has ended; sign in again' });
  });

  it('takes a ticket only without an Authorization header, refusing a malformed one before asking the database', async () => {
    // A bearer token wins: the ticket is not looked at.
    const auth = await authenticate({ authorization: `Bearer ${token}` }, deps([USER], [SESSION]), { ...none, ticket: `pfevt_${'A'.repeat(43)}` });
    expect(auth.eventTicket).toBeUndefined();
    for (const malformed of ['', 'pfevt_short', `pfcal_${'A'.repeat(43)}`, `pfevt_${'A'.repeat(42)}!`]) {
      await expect(authenticate({}, untouchable, { ...none, ticket: malformed })).rejects.toMatchObject({ code: 'UNAUTHORIZED', message: expect.stringContaining('ticket') });
    }
    // Not a string (a repeated ?ticket=): as without one.
    await expect(authenticate({}, untouchable, { ...none, ticket: ['a', 'b'] })).rejects.toMatchObject({ code: 'UNAUTHORIZED', message: 'Authentication required' });
  });

  describe('a personal access token (pfpat_…)', () => {
    const header = { authorization: `Bearer ${PAT}` };
    it('returns its user, its scopes and its id as the session, when it has every scope the operation names', async () => {
      const auth = await authenticate(header, deps([USER], []), { tokenScopes: ['tasks:read', 'notes:read'], tokenOnly: false });
      expect(auth).toEqual({ userId: USER, email: 'a@example.com', tier: 'free', sessionId: TOKEN_ID, tokenId: TOKEN_ID, personalToken: { id: TOKEN_ID, scopes: ['tasks:read', 'notes:read'] } });
    });
    it('answers 403 INSUFFICIENT_SCOPE naming every scope the operation needs when one is missing', async () => {
      await expect(authenticate(header, deps([USER], []), { tokenScopes: ['tasks:read', 'tasks:write'], tokenOnly: false })).rejects.toMatchObject({
        code: 'INSUFFICIENT_SCOPE',
        message: 'This personal access token lacks the scope tasks:write',
        extras: { required_scopes: ['tasks:read', 'tasks:write'] },
      });
    });
    it('answers 403 TOKEN_NOT_ALLOWED on an operation that names no scopes for tokens (the default)', async () => {
      await expect(authenticate(header, deps([USER], []))).rejects.toMatchObject({ code: 'TOKEN_NOT_ALLOWED' });
    });
    it('answers 401 before any scope check for an unknown token or a deleted account', async () => {
      await expect(authenticate({ authorization: `Bearer pfpat_${'y'.repeat(43)}` }, deps([USER], []))).rejects.toMatchObject({ code: 'UNAUTHORIZED' });
      await expect(authenticate(header, deps([], []))).rejects.toMatchObject({ code: 'UNAUTHORIZED', message: 'The account no longer exists' });
    });
    it('is the only credential an operation for tokens only takes: an access token gets 401', async () => {
      await expect(authenticate({ authorization: `Bearer ${token}` }, deps([USER], [SESSION]), { tokenScopes: [], tokenOnly: true })).rejects.toMatchObject({ code: 'UNAUTHORIZED' });
    });
  });
});
