import { randomUUID, type KeyObject } from 'node:crypto';
import jwt from 'jsonwebtoken';
import { DomainError, unauthorized } from '../../core/errors.js';
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
  /**
   * This access token's own id (`jti`), new with every sign-in and refresh: the seed's "session" of
   * the per-task AI counters, which a token refresh resets. Tokens without one count by their `sid`.
   */
  tokenId: string;
  /** Set when the caller came with a ticket for GET /events: it is spent when the stream opens. */
  eventTicket?: string;
  /**
   * Set when the caller is a personal access token: its id and scopes. `sessionId` and `tokenId`
   * are then the token's id.
   */
  personalToken?: { id: string; scopes: readonly string[] };
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
    jwtid: randomUUID(),
  });
}

/** How far ahead of our clock a token's `iat` or `nbf` may be: other servers' clocks drift a little. */
const CLOCK_LEEWAY_SECONDS = 30;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

const expired = () =>
  new DomainError('TOKEN_EXPIRED', 'Access token expired', { extras: { refresh_required: true } });

interface Verified {
  auth: AuthContext;
  /** `exp` in milliseconds: from then on the token is expired, as jwt.verify would say. */
  expiresAt: number;
  kid: string;
  key: KeyObject;
}

/**
 * Tokens already verified, per settings. A client sends the same token with every request for its
 * 15 minutes, and the RS256 check was the largest single cost of an authenticated GET
 * (bench/results/latest.md). The answer of jwt.verify for a token cannot change before its `exp`
 * while its key is still a verification key, and both are checked on every hit. Only valid tokens
 * are kept; the oldest entry goes first when the cache is full.
 */
const verifiedTokens = new WeakMap<AccessTokenSettings, Map<string, Verified>>();
const MAX_CACHED_TOKENS = 10_000;

/** Verifies an access token: RS256 only (no `none`, no HMAC with the public key), our issuer, audience and key id. */
export function verifyAccessToken(keys: SigningKeys, settings: AccessTokenSettings, token: string): AuthContext {
  let cache = verifiedTokens.get(settings);
  if (!cache) verifiedTokens.set(settings, (cache = new Map()));
  const hit = cache.get(token);
  if (hit) {
    if (Date.now() < hit.expiresAt && keys.verificationKeys.get(hit.kid) === hit.key) return { ...hit.auth };
    cache.delete(token);
  }
  let payload: jwt.JwtPayload;
  let kid: string | undefined;
  let key: KeyObject | undefined;
  try {
    kid = jwt.decode(token, { complete: true })?.header.kid;
    key = kid === undefined ? undefined : keys.verificationKeys.get(kid);
    if (!key) throw new Error('unknown key id');
    // nbf is checked below, with the leeway; exp is checked here without one.
    payload = jwt.verify(token, key, { algorithms: ['RS256'], issuer: settings.issuer, audience: settings.audience, ignoreNotBefore: true }) as jwt.JwtPayload;
  } catch (err) {
    if (err instanceof jwt.TokenExpiredError) throw expired();
    throw unauthorized('Invalid access token');
  }
  const { sub, email, tier, sid, jti, exp, iat, nbf } = payload;
  // Ids go into queries as uuids: anything else is a forged or foreign token, never a 500.
  if (typeof sub !== 'string' || !UUID.test(sub) || typeof sid !== 'string' || !UUID.test(sid) || (jti !== undefined && (typeof jti !== 'string' || !UUID.test(jti)))) {
    throw unauthorized('Invalid access token');
  }
  if (typeof email !== 'string' || (tier !== 'free' && tier !== 'pro')) throw unauthorized('Invalid access token');
  // Every token we sign has exp and iat; one without, or issued in the future, is not ours.
  const latest = Date.now() / 1000 + CLOCK_LEEWAY_SECONDS;
  if (typeof exp !== 'number' || typeof iat !== 'number' || iat > latest || (nbf !== undefined && (typeof nbf !== 'number' || nbf > latest))) {
    throw unauthorized('Invalid access token');
  }
  const auth: AuthContext = { userId: sub, email, tier, sessionId: sid, tokenId: jti ?? sid };
  if (cache.size >= MAX_CACHED_TOKENS) cache.delete(cache.keys().next().value!);
  cache.set(token, { auth, expiresAt: exp * 1000, kid: kid!, key: key! });
  return { ...auth };
}
