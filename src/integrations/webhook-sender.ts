import { createHmac } from 'node:crypto';
import https from 'node:https';
import net from 'node:net';
import tls from 'node:tls';
import type { Config } from '../config.js';
import { checkHost, hostOf, isPublicAddress, publicOnlyLookup, systemLookup, type LookupAll } from './public-address.js';

// Outgoing webhooks: signed POSTs to URLs users chose. The only module that sends them; it knows
// nothing of tasks or users, only URLs, bodies and secrets.
//
// A webhook URL is an SSRF vector like a push endpoint, and is guarded the same way (the same
// checks from public-address.ts): https only, no credentials, an IP literal checked before
// connecting, a name resolved inside the connection's own lookup with every address checked (no
// DNS-rebinding window between a check and the connect). Redirects are never followed (a 3xx is a
// failed attempt), the whole exchange has a timeout, and only a bounded excerpt of the answer is read.

export interface WebhookSenderConfig {
  /** Per attempt, from connecting to the end of the answer; 10 s by default. */
  timeoutMs?: number;
  /** Extra CA certificates (PEM) to trust besides the system's (tests' local receivers). */
  extraCaCerts?: string;
  /** Test-only (PUSH_ALLOW_LOOPBACK, the same allowance as Web Push): 127.0.0.0/8 and ::1 count as public. */
  allowLoopback?: boolean;
  /** DNS resolution (every address of the name); the system resolver by default. */
  lookup?: LookupAll;
}

export type UrlCheck = { ok: true } | { ok: false; message: string };

export type WebhookSendOutcome =
  /** A 2xx answer. */
  | { outcome: 'delivered'; statusCode: number; excerpt: string }
  /** Any other answer, or none (network, timeout: `statusCode` null), or not sent (`refused`: the address is not public). */
  | { outcome: 'failed'; statusCode: number | null; excerpt: string; refused?: boolean };

export interface WebhookRequest {
  url: string;
  secret: string;
  eventId: string;
  eventType: string;
  /** The exact bytes sent and signed. */
  body: string;
  /** Unix seconds for the signature; now by default. */
  timestamp?: number;
}

export interface WebhookSender {
  /** The early check at registration: https, no credentials, a host that is (or resolves to only) public addresses. */
  checkUrl(url: string): Promise<UrlCheck>;
  send(request: WebhookRequest): Promise<WebhookSendOutcome>;
}

/** At most this many characters of an answer are kept (and little more is read). */
export const EXCERPT_MAX = 256;
const READ_MAX_BYTES = 4 * EXCERPT_MAX;

/** `t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`: the documented recipe (openapi.yaml createWebhook, docs/WEBHOOKS.md). */
export function signatureHeader(secret: string, timestamp: number, body: string): string {
  const v1 = createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex');
  return `t=${timestamp},v1=${v1}`;
}

class NonPublicAddressError extends Error {
  override name = 'NonPublicAddressError';
}

const NOT_PUBLIC = 'The webhook URL is not a public internet address';
const UNRESOLVABLE = "The webhook URL's host name does not resolve";

function parseUrl(text: string, allowLoopback: boolean): URL | string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return 'The webhook URL is not a valid URL';
  }
  if (url.protocol !== 'https:') return 'The webhook URL must be an https URL';
  if (url.username || url.password) return 'The webhook URL must not contain credentials';
  const host = hostOf(url);
  if (net.isIP(host) && !isPublicAddress(host, allowLoopback)) return NOT_PUBLIC;
  return url;
}

const clip = (text: string) => [...text].slice(0, EXCERPT_MAX).join('');

export function createWebhookSender(cfg: WebhookSenderConfig = {}): WebhookSender {
  const allowLoopback = cfg.allowLoopback ?? false;
  const lookupAll = cfg.lookup ?? systemLookup;
  const timeoutMs = cfg.timeoutMs ?? 10_000;
  const agent = new https.Agent({
    keepAlive: false,
    lookup: publicOnlyLookup(lookupAll, allowLoopback, (reason) => (reason === 'not_public' ? new NonPublicAddressError(NOT_PUBLIC) : new Error(UNRESOLVABLE))),
    ...(cfg.extraCaCerts ? { ca: [...tls.rootCertificates, cfg.extraCaCerts] } : {}),
  });
  return {
    async checkUrl(text) {
      const url = parseUrl(text, allowLoopback);
      if (typeof url === 'string') return { ok: false, message: url };
      const host = await checkHost(hostOf(url), { lookupAll, allowLoopback });
      return host.public ? { ok: true } : { ok: false, message: host.reason === 'not_public' ? NOT_PUBLIC : UNRESOLVABLE };
    },
    send(request) {
      const url = parseUrl(request.url, allowLoopback);
      if (typeof url === 'string') return Promise.resolve({ outcome: 'failed', statusCode: null, excerpt: url, refused: true });
      const timestamp = request.timestamp ?? Math.floor(Date.now() / 1000);
      const body = Buffer.from(request.body, 'utf8');
      return new Promise<WebhookSendOutcome>((resolve) => {
        let settled = false;
        const done = (o: WebhookSendOutcome) => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          resolve(o);
        };
        // The normalised URL: nothing else can read another host out of the text.
        const req = https.request(url, {
          method: 'POST',
          agent,
          headers: {
            'Content-Type': 'application/json',
            'Content-Length': body.length,
            'User-Agent': 'PerpetuaFlow-Webhooks/1',
            'Perpetua-Event-Id': request.eventId,
            'Perpetua-Event-Type': request.eventType,
            'Perpetua-Signature': signatureHeader(request.secret, timestamp, request.body),
          },
        });
        const timer = setTimeout(() => {
          req.destroy(new Error(`No answer within ${timeoutMs} ms`));
        }, timeoutMs);
        req.on('error', (err) => {
          if (err instanceof NonPublicAddressError) return done({ outcome: 'failed', statusCode: null, excerpt: err.message, refused: true });
          done({ outcome: 'failed', statusCode: null, excerpt: clip(err.message) });
        });
        req.on('response', (res) => {
          const status = res.statusCode ?? 0;
          const chunks: Buffer[] = [];
          let read = 0;
          const finish = () => {
            const excerpt = clip(Buffer.concat(chunks).toString('utf8'));
            done(status >= 200 && status < 300 ? { outcome: 'delivered', statusCode: status, excerpt } : { outcome: 'failed', statusCode: status, excerpt });
          };
          res.on('data', (chunk: Buffer) => {
            if (read < READ_MAX_BYTES) chunks.push(chunk.subarray(0, READ_MAX_BYTES - read));
            read += chunk.length;
            // Enough of it: the rest is not read (a receiver cannot make the worker hold a big answer).
            if (read >= READ_MAX_BYTES) {
              finish();
              res.destroy();
            }
          });
          res.on('end', finish);
          res.on('error', finish);
          res.on('aborted', finish);
        });
        req.end(body);
      });
    },
  };
}

/** The sender the API (URL checks) and the worker (deliveries) use. */
export const webhookSenderFromConfig = (config: Config): WebhookSender =>
  createWebhookSender({ allowLoopback: config.PUSH_ALLOW_LOOPBACK, extraCaCerts: config.WEBHOOK_EXTRA_CA_CERTS });
