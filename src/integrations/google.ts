import jwt from 'jsonwebtoken';
import jwksRsa from 'jwks-rsa';
import { InvalidCredential, ProviderUnavailable } from './failures.js';

export interface GoogleIdentity {
  googleId: string;
  email: string;
  name: string | null;
  avatarUrl: string | null;
}

export interface GoogleVerifier {
  verifyIdToken(idToken: string): Promise<GoogleIdentity>;
}

const GOOGLE_ISSUERS: [string, string] = ['https://accounts.google.com', 'accounts.google.com'];

/**
 * Verifies Google ID tokens against Google's JWKS (cached 24 h; GOOGLE_JWKS_URL points tests at a
 * local key server). Checks signature, issuer, audience (our client id), expiry and email_verified.
 */
export function createGoogleVerifier(opts: { clientId: string | undefined; jwksUrl: string }): GoogleVerifier {
  const jwks = jwksRsa({
    jwksUri: opts.jwksUrl,
    cache: true,
    cacheMaxAge: 24 * 60 * 60 * 1000,
    rateLimit: true,
    jwksRequestsPerMinute: 10,
    timeout: 5_000,
  });
  return {
    async verifyIdToken(idToken) {
      if (!opts.clientId) throw new ProviderUnavailable('google-sign-in', 'Google sign-in is not configured: set GOOGLE_CLIENT_ID');
      const header = jwt.decode(idToken, { complete: true })?.header;
      if (!header || header.alg !== 'RS256' || !header.kid) throw new InvalidCredential('invalid', 'Google ID token is invalid');
      let key: string;
      try {
        key = (await jwks.getSigningKey(header.kid)).getPublicKey();
      } catch (err) {
        // An unknown kid is the token's fault; an unreachable key server is ours.
        if (err instanceof Error && err.name === 'SigningKeyNotFoundError') throw new InvalidCredential('invalid', 'Google ID token is invalid');
        throw new ProviderUnavailable('google-sign-in', 'Google sign-in keys cannot be fetched right now');
      }
      let claims: jwt.JwtPayload;
      try {
        claims = jwt.verify(idToken, key, { algorithms: ['RS256'], audience: opts.clientId, issuer: GOOGLE_ISSUERS }) as jwt.JwtPayload;
      } catch {
        throw new InvalidCredential('invalid', 'Google ID token is invalid');
      }
      if (typeof claims.sub !== 'string' || typeof claims.email !== 'string') throw new InvalidCredential('invalid', 'Google ID token is invalid');
      if (claims.email_verified !== true && claims.email_verified !== 'true') {
        throw new InvalidCredential('unverified', 'The Google account email is not verified');
      }
      return {
        googleId: claims.sub,
        email: claims.email,
        name: typeof claims.name === 'string' && claims.name.trim() ? claims.name.trim().slice(0, 100) : null,
        // The contract bounds avatar_url to 2048 characters; a longer picture URL is not kept.
        avatarUrl: typeof claims.picture === 'string' && claims.picture.length <= 2048 ? claims.picture : null,
      };
    },
  };
}
