import { createDecipheriv, createECDH, createPublicKey, hkdfSync, randomBytes, verify } from 'node:crypto';
import https from 'node:https';
import { generate } from 'selfsigned';

/**
 * A Web Push service (RFC 8030) on https://127.0.0.1 with a certificate of its own (its `ca` goes
 * in WEB_PUSH_EXTRA_CA_CERTS; the app reaches it on loopback only with PUSH_ALLOW_LOOPBACK). It plays the browser too: `subscribe()` makes a subscription with
 * real client keys, so every delivery is checked the way a browser would — the VAPID JWT
 * (RFC 8292) verified against the `k=` key, and the aes128gcm payload (RFC 8291) decrypted.
 * An endpoint can be told to answer 404/410 (gone) or 500 (failing).
 */

export interface FakeSubscription {
  endpoint: string;
  p256dh_key: string;
  auth_key: string;
}

export interface PushDelivery {
  endpoint: string;
  status: number;
  ttl: string | undefined;
  topic: string | undefined;
  contentEncoding: string | undefined;
  /** The VAPID JWT's claims, when its ES256 signature verified. */
  vapid: { aud: string; sub: string; exp: number } | null;
  /** The decrypted payload, parsed as JSON (null when it could not be decrypted). */
  payload: any;
}

export interface FakePushService {
  origin: string;
  /** PEM of the service's self-signed certificate. */
  ca: string;
  deliveries: PushDelivery[];
  subscribe(): FakeSubscription;
  /** What this endpoint answers from now on (201 by default). */
  respondWith(endpoint: string, status: number): void;
  deliveriesTo(endpoint: string): PushDelivery[];
  close(): Promise<void>;
}

const b64u = (b: Buffer) => b.toString('base64url');
const fromB64u = (s: string) => Buffer.from(s, 'base64url');

interface ClientKeys {
  ecdh: ReturnType<typeof createECDH>;
  publicKey: Buffer;
  auth: Buffer;
}

/** RFC 8291 §3.4 / RFC 8188: decrypts an aes128gcm body for the client that owns `keys`. */
export function decryptAes128gcm(body: Buffer, keys: ClientKeys): Buffer {
  const salt = body.subarray(0, 16);
  const idlen = body.readUInt8(20);
  const serverPublicKey = body.subarray(21, 21 + idlen);
  const ciphertext = body.subarray(21 + idlen);
  const ecdhSecret = keys.ecdh.computeSecret(serverPublicKey);
  const keyInfo = Buffer.concat([Buffer.from('WebPush: info\0'), keys.publicKey, serverPublicKey]);
  const ikm = Buffer.from(hkdfSync('sha256', ecdhSecret, keys.auth, keyInfo, 32));
  const cek = Buffer.from(hkdfSync('sha256', ikm, salt, Buffer.from('Content-Encoding: aes128gcm\0'), 16));
  const nonce = Buffer.from(hkdfSync('sha256', ikm, salt, Buffer.from('Content-Encoding: nonce\0'), 12));
  const decipher = createDecipheriv('aes-128-gcm', cek, nonce);
  decipher.setAuthTag(ciphertext.subarray(ciphertext.length - 16));
  const padded = Buffer.concat([decipher.update(ciphertext.subarray(0, ciphertext.length - 16)), decipher.final()]);
  // The last record ends with the delimiter 0x02, then zero padding.
  let end = padded.length - 1;
  while (end >= 0 && padded[end] === 0) end--;
  if (padded[end] !== 2) throw new Error('bad record delimiter');
  return padded.subarray(0, end);
}

/** RFC 8292: `vapid t=<JWT>, k=<P-256 public key>`; the JWT is ES256 over header.claims. */
function verifyVapid(header: string | undefined): PushDelivery['vapid'] {
  const m = /^vapid t=([^,\s]+),\s*k=([A-Za-z0-9_-]+)$/.exec(header ?? '');
  if (!m) return null;
  const [h, c, sig] = m[1]!.split('.');
  const point = fromB64u(m[2]!);
  if (!h || !c || !sig || point.length !== 65) return null;
  const key = createPublicKey({ key: { kty: 'EC', crv: 'P-256', x: b64u(point.subarray(1, 33)), y: b64u(point.subarray(33)) }, format: 'jwk' });
  const ok = verify('sha256', Buffer.from(`${h}.${c}`), { key, dsaEncoding: 'ieee-p1363' }, fromB64u(sig));
  return ok ? JSON.parse(fromB64u(c).toString('utf8')) : null;
}

export async function startFakePushService(): Promise<FakePushService> {
  const pems = await generate([{ name: 'commonName', value: '127.0.0.1' }], {
    keySize: 2048,
    algorithm: 'sha256',
    extensions: [
      { name: 'basicConstraints', cA: true },
      // push.test: a name tests resolve to 127.0.0.1 themselves (the sender's injected lookup)
      { name: 'subjectAltName', altNames: [{ type: 7, ip: '127.0.0.1' }, { type: 2, value: 'push.test' }] },
    ],
  });
  const clients = new Map<string, ClientKeys>();
  const statuses = new Map<string, number>();
  const fake: FakePushService = {
    origin: '',
    ca: pems.cert,
    deliveries: [],
    subscribe() {
      const ecdh = createECDH('prime256v1');
      ecdh.generateKeys();
      const keys: ClientKeys = { ecdh, publicKey: ecdh.getPublicKey(), auth: randomBytes(16) };
      const endpoint = `${fake.origin}/push/${randomBytes(12).toString('hex')}`;
      clients.set(endpoint, keys);
      return { endpoint, p256dh_key: b64u(keys.publicKey), auth_key: b64u(keys.auth) };
    },
    respondWith: (endpoint, status) => void statuses.set(endpoint, status),
    deliveriesTo: (endpoint) => fake.deliveries.filter((d) => d.endpoint === endpoint),
    close: async () => {},
  };

  const server = https.createServer({ key: pems.private, cert: pems.cert }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const endpoint = `${fake.origin}${req.url}`;
      const keys = clients.get(endpoint);
      const status = statuses.get(endpoint) ?? (keys ? 201 : 404);
      let payload: any = null;
      try {
        if (keys) payload = JSON.parse(decryptAes128gcm(Buffer.concat(chunks), keys).toString('utf8'));
      } catch {
        payload = null;
      }
      fake.deliveries.push({
        endpoint,
        status,
        ttl: req.headers.ttl as string | undefined,
        topic: req.headers.topic as string | undefined,
        contentEncoding: req.headers['content-encoding'] as string | undefined,
        vapid: verifyVapid(req.headers.authorization),
        payload,
      });
      res.writeHead(status).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  fake.origin = `https://127.0.0.1:${(server.address() as { port: number }).port}`;
  fake.close = () =>
    new Promise((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  return fake;
}
