import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import http from 'node:http';
import jwt from 'jsonwebtoken';

/**
 * Google's side of sign-in, on 127.0.0.1: a JWKS endpoint (the shape of
 * https://www.googleapis.com/oauth2/v3/certs) and a signer for ID tokens with Google's claims.
 */
export interface FakeGoogle {
  jwksUrl: string;
  clientId: string;
  /** How many times the key set was fetched (to prove caching). */
  jwksRequests: number;
  signIdToken(claims: Partial<GoogleClaims>, opts?: { kid?: string; expiresIn?: number; key?: KeyObject }): string;
  close(): Promise<void>;
}

export interface GoogleClaims {
  iss: string;
  aud: string;
  sub: string;
  email: string;
  email_verified: boolean;
  name: string;
  picture: string;
}

export async function startFakeGoogle(clientId = 'test-client.apps.googleusercontent.com'): Promise<FakeGoogle> {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const kid = 'google-test-key-1';
  const jwk = { ...publicKey.export({ format: 'jwk' }), kid, alg: 'RS256', use: 'sig' };
  const fake: FakeGoogle = {
    jwksUrl: '',
    clientId,
    jwksRequests: 0,
    signIdToken(claims, opts = {}) {
      const body = {
        iss: 'https://accounts.google.com',
        aud: clientId,
        sub: '109876543210987654321',
        email: 'ada@example.com',
        email_verified: true,
        name: 'Ada Lovelace',
        picture: 'https://lh3.googleusercontent.com/a/ada',
        ...claims,
      };
      return jwt.sign(body, opts.key ?? privateKey, { algorithm: 'RS256', keyid: opts.kid ?? kid, expiresIn: opts.expiresIn ?? 3600 });
    },
    close: async () => {},
  };
  const server = http.createServer((req, res) => {
    if (req.url === '/oauth2/v3/certs') {
      fake.jwksRequests++;
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [jwk] }));
    } else res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  fake.jwksUrl = `http://127.0.0.1:${port}/oauth2/v3/certs`;
  fake.close = () => new Promise((resolve) => server.close(() => resolve()));
  return fake;
}
