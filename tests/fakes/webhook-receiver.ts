import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { TEST_TLS_CERT, TEST_TLS_KEY } from './tls.js';

/**
 * A webhook receiver on https://127.0.0.1 with the tests' certificate (trusted through
 * WEBHOOK_EXTRA_CA_CERTS; reached on loopback only with PUSH_ALLOW_LOOPBACK, the allowance push
 * tests use). It records every request with its raw body, and answers what each path is told to.
 */

export interface ReceivedWebhook {
  path: string;
  headers: Record<string, string | string[] | undefined>;
  /** The body exactly as received. */
  raw: string;
  body: any;
  answered: number;
}

export interface FakeWebhookReceiver {
  origin: string;
  /** A fresh path's URL. */
  url(path: string): string;
  received: ReceivedWebhook[];
  receivedAt(path: string): ReceivedWebhook[];
  /** What the path answers from now on: a status, or a queue of statuses (the last repeats). */
  respondWith(path: string, ...statuses: number[]): void;
  /** The path answers a redirect to `location`. */
  redirect(path: string, location: string): void;
  close(): Promise<void>;
}

export async function startFakeWebhookReceiver(): Promise<FakeWebhookReceiver> {
  const received: ReceivedWebhook[] = [];
  const answers = new Map<string, number[]>();
  const redirects = new Map<string, string>();
  const server = https.createServer({ cert: TEST_TLS_CERT, key: TEST_TLS_KEY }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const path = req.url ?? '/';
      const raw = Buffer.concat(chunks).toString('utf8');
      const location = redirects.get(path);
      const queue = answers.get(path) ?? [200];
      const status = location ? 302 : queue.length > 1 ? queue.shift()! : queue[0]!;
      let body: unknown = null;
      try {
        body = JSON.parse(raw);
      } catch {
        /* recorded as is */
      }
      received.push({ path, headers: req.headers, raw, body, answered: status });
      if (location) res.setHeader('Location', location);
      res.statusCode = status;
      res.end(status >= 500 ? `receiver failed (${'x'.repeat(1000)})` : 'ok');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const origin = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    origin,
    url: (path) => `${origin}${path}`,
    received,
    receivedAt: (path) => received.filter((r) => r.path === path),
    respondWith: (path, ...statuses) => void answers.set(path, statuses),
    redirect: (path, location) => void redirects.set(path, location),
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
