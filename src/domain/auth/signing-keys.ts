import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Config } from '../../config.js';
import type { Logger } from '../../http/logging.js';

export interface SigningKeys {
  privateKey: KeyObject;
  publicKey: KeyObject;
  kid: string;
  jwk: { kty: 'RSA'; use: 'sig'; alg: 'RS256'; kid: string; n: string; e: string };
}

/** RFC 7638 thumbprint: a stable key id that changes exactly when the key does. */
function thumbprint(publicKey: KeyObject): string {
  const { e, n } = publicKey.export({ format: 'jwk' }) as { e: string; n: string };
  return createHash('sha256').update(JSON.stringify({ e, kty: 'RSA', n })).digest('base64url').slice(0, 16);
}

export function signingKeysFromPem(privatePem: string, publicPem: string, kid?: string): SigningKeys {
  const privateKey = createPrivateKey(privatePem);
  const publicKey = createPublicKey(publicPem);
  if (publicKey.asymmetricKeyType !== 'rsa') throw new Error('JWT keys must be RSA (RS256)');
  const id = kid ?? thumbprint(publicKey);
  const { n, e } = publicKey.export({ format: 'jwk' }) as { n: string; e: string };
  return { privateKey, publicKey, kid: id, jwk: { kty: 'RSA', use: 'sig', alg: 'RS256', kid: id, n, e } };
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
    return signingKeysFromPem(config.JWT_PRIVATE_KEY, config.JWT_PUBLIC_KEY, config.JWT_KEY_ID);
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
  return signingKeysFromPem(fs.readFileSync(privFile, 'utf8'), fs.readFileSync(pubFile, 'utf8'), config.JWT_KEY_ID);
}
