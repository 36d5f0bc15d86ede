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
const deps = (accounts: string[], sessions: string[]) => ({ tokens: { keys, access }, liveAccounts: live(accounts), liveSessions: live(sessions) }) as unknown as AuthenticateDeps;
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
});
