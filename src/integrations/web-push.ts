import https from 'node:https';
import net from 'node:net';
import tls from 'node:tls';
import webPush from 'web-push';
import type { Config } from '../config.js';
import { checkHost, hostOf, isPublicAddress, publicOnlyLookup, systemLookup, type LookupAll } from './public-address.js';

// Web Push (RFC 8030) with VAPID (RFC 8292) and aes128gcm payload encryption (RFC 8291), through
// the web-push package. The only module that talks to push services.
//
// A push endpoint is a URL a client chose, so it is an SSRF vector: the sender connects only to
// public addresses. A name is resolved inside the connection's own lookup and every address it
// resolves to is checked (no DNS-rebinding window); an IP literal is checked before connecting.

export interface PushConfig {
  publicKey: string | undefined;
  privateKey: string | undefined;
  /** An email address or a mailto:/https: URL the push service may contact. */
  contact: string | undefined;
  /** Extra CA certificates (PEM) to trust besides the system's, e.g. a private push service. */
  extraCaCerts?: string;
  timeoutMs?: number;
  /** Test-only (PUSH_ALLOW_LOOPBACK): 127.0.0.0/8 and ::1 count as public. */
  allowLoopback?: boolean;
  /** DNS resolution (every address of the name); the system resolver by default. */
  lookup?: LookupAll;
}

export interface PushTarget {
  endpoint: string;
  p256dh: string;
  auth: string;
}

export type PushOutcome =
  | { outcome: 'delivered' }
  /** 404 or 410: the subscription expired or was withdrawn; delete it. */
  | { outcome: 'gone'; statusCode: number }
  /** Anything else; `retryable` for 429, 5xx and transport failures. */
  | { outcome: 'failed'; retryable: boolean; statusCode: number | null; message: string }
  /** Not sent: the endpoint is not an https URL on a public address (nothing was connected to). */
  | { outcome: 'refused'; message: string };

/** Whether an endpoint may be registered; `message` says why not. */
export type EndpointCheck = { ok: true } | { ok: false; message: string };

export interface PushSender {
  readonly configured: boolean;
  /**
   * The early check at registration: https, no credentials, and a host that is (or resolves to
   * only) public addresses. `send` checks again at connection time, as DNS may change meanwhile.
   */
  checkEndpoint(endpoint: string): Promise<EndpointCheck>;
  send(target: PushTarget, payload: string, opts?: { ttlSeconds?: number; topic?: string }): Promise<PushOutcome>;
}

/** The connection was refused by the address guard. */
class NonPublicEndpointError extends Error {
  override name = 'NonPublicEndpointError';
}

const NOT_PUBLIC = 'The push endpoint is not a public internet address';
const UNRESOLVABLE = 'The push endpoint\'s host name does not resolve';

/** The endpoint as a URL the sender may use, or why not (before any DNS). */
function parseEndpoint(endpoint: string, allowLoopback: boolean): URL | string {
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    return 'The push endpoint is not a valid URL';
  }
  if (url.protocol !== 'https:') return 'The push endpoint must be an https URL';
  if (url.username || url.password) return 'The push endpoint must not contain credentials';
  const host = hostOf(url);
  if (net.isIP(host) && !isPublicAddress(host, allowLoopback)) return NOT_PUBLIC;
  return url;
}

const subjectOf = (contact: string | undefined) =>
  !contact ? 'mailto:admin@perpetua-flow.invalid' : /^(mailto:|https:)/.test(contact) ? contact : `mailto:${contact}`;

export function createPushSender(cfg: PushConfig): PushSender {
  const configured = Boolean(cfg.publicKey && cfg.privateKey);
  const allowLoopback = cfg.allowLoopback ?? false;
  const lookupAll = cfg.lookup ?? systemLookup;
  // Every push connection goes through this agent: its lookup refuses non-public addresses. A name
  // that does not resolve right now is a network failure like any other (retried), not a refusal.
  const agent = new https.Agent({
    keepAlive: true,
    lookup: publicOnlyLookup(lookupAll, allowLoopback, (reason) => (reason === 'not_public' ? new NonPublicEndpointError(NOT_PUBLIC) : new Error(UNRESOLVABLE))),
    ...(cfg.extraCaCerts ? { ca: [...tls.rootCertificates, cfg.extraCaCerts] } : {}),
  });
  return {
    configured,
    async checkEndpoint(endpoint) {
      const url = parseEndpoint(endpoint, allowLoopback);
      if (typeof url === 'string') return { ok: false, message: url };
      const host = await checkHost(hostOf(url), { lookupAll, allowLoopback });
      return host.public ? { ok: true } : { ok: false, message: host.reason === 'not_public' ? NOT_PUBLIC : UNRESOLVABLE };
    },
    async send(target, payload, opts = {}) {
      if (!configured) return { outcome: 'failed', retryable: false, statusCode: null, message: 'Web Push is not configured: set VAPID_PUBLIC_KEY and VAPID_PRIVATE_KEY' };
      const url = parseEndpoint(target.endpoint, allowLoopback);
      if (typeof url === 'string') return { outcome: 'refused', message: url };
      try {
        // The normalised URL, so web-push's own parsing cannot read another host out of it.
        await webPush.sendNotification({ endpoint: url.href, keys: { p256dh: target.p256dh, auth: target.auth } }, payload, {
          vapidDetails: { subject: subjectOf(cfg.contact), publicKey: cfg.publicKey!, privateKey: cfg.privateKey! },
          TTL: opts.ttlSeconds ?? 24 * 3600,
          contentEncoding: 'aes128gcm',
          timeout: cfg.timeoutMs ?? 10_000,
          ...(opts.topic ? { topic: opts.topic } : {}),
          agent,
        });
        return { outcome: 'delivered' };
      } catch (err) {
        if (err instanceof NonPublicEndpointError) return { outcome: 'refused', message: err.message };
        const statusCode = typeof (err as { statusCode?: unknown }).statusCode === 'number' ? (err as { statusCode: number }).statusCode : null;
        if (statusCode === 404 || statusCode === 410) return { outcome: 'gone', statusCode };
        const retryable = statusCode === null || statusCode === 429 || statusCode >= 500;
        return { outcome: 'failed', retryable, statusCode, message: err instanceof Error ? err.message : String(err) };
      }
    },
  };
}

/** The sender the API and the worker use. */
export const pushFromConfig = (config: Config): PushSender =>
  createPushSender({
    publicKey: config.VAPID_PUBLIC_KEY,
    privateKey: config.VAPID_PRIVATE_KEY,
    contact: config.VAPID_CONTACT_EMAIL,
    extraCaCerts: config.WEB_PUSH_EXTRA_CA_CERTS,
    allowLoopback: config.PUSH_ALLOW_LOOPBACK,
  });
