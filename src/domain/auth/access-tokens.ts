import jwt from 'jsonwebtoken';
import { AppError, unauthorized } from '../../http/errors.js';
import type { SigningKeys } from './signing-keys.js';

export interface AccessClaims {
  sub: string;
  email: string;
  tier: 'free' | 'pro';
  /** The session (refresh-token family) the token belongs to. */
  sid: string;
}

/** The caller of an authenticated request, as its access token states. */
export interface AuthContext {
  userId: string;
  email: string;
  tier: 'free' | 'pro';
  sessionId: string;
}

export interface AccessTokenSettings {
  issuer: string;
  audience: string;
  expiresInSeconds: number;
}

export function signAccessToken(keys: SigningKeys, settings: AccessTokenSettings, claims: AccessClaims): string {
  return jwt.sign({ email: claims.email, tier: claims.tier, sid: claims.sid }, keys.privateKey, {
    algorithm: 'RS256',
    keyid: keys.kid,
    subject: claims.sub,
    issuer: settings.issuer,
    audience: settings.audience,
    expiresIn: settings.expiresInSeconds,
  });
}

const expired = () =>
  new AppError(401, 'TOKEN_EXPIRED', 'Access token expired', undefined, { refresh_required: true }, {
    'WWW-Authenticate': 'Bearer error="invalid_token", error_description="expired"',
  });

/** Verifies an access token: RS256 only (no `none`, no HMAC with the public key), our issuer, audience and key id. */
export function verifyAccessToken(keys: SigningKeys, settings: AccessTokenSettings, token: string): AuthContext {
  let payload: jwt.JwtPayload;
  try {
    const kid = jwt.decode(token, { complete: true })?.header.kid;
    const key = kid === undefined ? undefined : keys.verificationKeys.get(kid);
    if (!key) throw new Error('unknown key id');
    payload = jwt.verify(token, key, { algorithms: ['RS256'], issuer: settings.issuer, audience: settings.audience }) as jwt.JwtPayload;
  } catch (err) {
    if (err instanceof jwt.TokenExpiredError) throw expired();
    throw unauthorized('Invalid access token');
  }
  const { sub, email, tier, sid } = payload;
  if (typeof sub !== 'string' || typeof sid !== 'string' || typeof email !== 'string' || (tier !== 'free' && tier !== 'pro')) {
    throw unauthorized('Invalid access token');
  }
  return { userId: sub, email, tier, sessionId: sid };
}
