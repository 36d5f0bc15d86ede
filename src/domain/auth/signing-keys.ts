import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Config } from '../../config.js';
import type { Logger } from '../../core/logging.js';

type Jwk = { kty: 'RSA'; use: 'sig'; alg: 'RS256'; kid: string; n: string; e: string };

export interface SigningKeys {
  /** Signs new tokens. */
  privateKey: KeyObject;
  publicKey: KeyObject;
  kid: string;
  /** Keys that verify tokens, by kid: the current one and, during a rotation, the previous one. */
  verificationKeys: Map<string, KeyObject>;
  /** What /.well-known/jwks.json publishes: the current key first. */
  jwks: Jwk[];
}

/** RFC 7638 thumbprint: a stable key id that changes exactly when the key does. */
function thumbprint(publicKey: KeyObject): string {
  const { e, n } = publicKey.export({ format: 'jwk' }) as { e: string; n: string };
  return createHash('sha256').update(JSON.stringify({ e, kty: 'RSA', n })).digest('base64url').slice(0, 16);
}

function publicJwk(publicPem: string, kid?: string): { key: KeyObject; jwk: Jwk } {
  const key = createPublicKey(publicPem);
  if (key.asymmetricKeyType !== 'rsa') throw new Error('JWT keys must be RSA (RS256)');
  const id = kid ?? thumbprint(key);
  const { n, e } = key.export({ format: 'jwk' }) as { n: string; e: string };
  return { key, jwk: { kty: 'RSA', use: 'sig', alg: 'RS256', kid: id, n, e } };
}

/**
 * The current key pair, plus optionally the previous public key: during a rotation tokens signed
 * with the old key stay valid until they expire (15 minutes), and clients can fetch both.
 */
export function signingKeysFromPem({ privatePem, publicPem, kid, previous }: { privatePem: string; publicPem: string; kid?: string; previous?: { publicPem: string; kid?: string } }): SigningKeys {
  const privateKey = createPrivateKey(privatePem);
  const current = publicJwk(publicPem, kid);
  const verificationKeys = new Map([[current.jwk.kid, current.key]]);
  const jwks = [current.jwk];
  if (previous) {
    const old = publicJwk(previous.publicPem, previous.kid);
    if (old.jwk.kid === current.jwk.kid) throw new Error('JWT_PREVIOUS_PUBLIC_KEY must differ from JWT_PUBLIC_KEY (or set distinct key ids)');
    verificationKeys.set(old.jwk.kid, old.key);
    jwks.push(old.jwk);
  }
  return { privateKey, publicKey: current.key, kid: current.jwk.kid, verificationKeys, jwks };
}

export function generateSigningKeys(): { privatePem: string; publicPem: string } {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return {
    privatePem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    publicPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
  };
}

/**
 * Keys from JWT_PRIVATE_KEY / JWT_PUBLIC_KEY. Outside production, when they are not set, a pair is
 * generated once into DATA_DIR/jwt and reused, so tokens survive restarts; production refuses to
 * start without keys (config.ts).
 */
export function loadSigningKeys(config: Config, log: Logger): SigningKeys {
  if (config.JWT_PRIVATE_KEY && config.JWT_PUBLIC_KEY) {
    const previous = config.JWT_PREVIOUS_PUBLIC_KEY ? { publicPem: config.JWT_PREVIOUS_PUBLIC_KEY, kid: config.JWT_PREVIOUS_KEY_ID } : undefined;
    return signingKeysFromPem({ privatePem: config.JWT_PRIVATE_KEY, publicPem: config.JWT_PUBLIC_KEY, kid: config.JWT_KEY_ID, previous });
  }
  const dir = path.resolve(config.DATA_DIR, 'jwt');
  const privFile = path.join(dir, 'private.pem');
  const pubFile = path.join(dir, 'public.pem');
  if (!fs.existsSync(privFile) || !fs.existsSync(pubFile)) {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    const { privatePem, publicPem } = generateSigningKeys();
    fs.writeFileSync(privFile, privatePem, { mode: 0o600 });
    fs.writeFileSync(pubFile, publicPem);
    log.warn({ dir }, 'JWT_PRIVATE_KEY/JWT_PUBLIC_KEY not set: GENERATED A DEVELOPMENT KEY PAIR. Never use these keys in production.');
  } else {
    log.warn({ dir }, 'JWT keys not set: using the development key pair in DATA_DIR/jwt');
  }
  return signingKeysFromPem({ privatePem: fs.readFileSync(privFile, 'utf8'), publicPem: fs.readFileSync(pubFile, 'utf8'), kid: config.JWT_KEY_ID });
}
