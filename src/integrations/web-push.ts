import https from 'node:https';
import tls from 'node:tls';
import webPush from 'web-push';
import type { Config } from '../config.js';

// Web Push (RFC 8030) with VAPID (RFC 8292) and aes128gcm payload encryption (RFC 8291), through
// the web-push package. The only module that talks to push services.

export interface PushConfig {
  publicKey: string | undefined;
  privateKey: string | undefined;
  /** An email address or a mailto:/https: URL the push service may contact. */
  contact: string | undefined;
  /** Extra CA certificates (PEM) to trust besides the system's, e.g. a private push service. */
  extraCaCerts?: string;
  timeoutMs?: number;
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
  | { outcome: 'failed'; retryable: boolean; statusCode: number | null; message: string };

export interface PushSender {
  readonly configured: boolean;
  send(target: PushTarget, payload: string, opts?: { ttlSeconds?: number; topic?: string }): Promise<PushOutcome>;
}

const subjectOf = (contact: string | undefined) =>
  !contact ? 'mailto:admin@perpetua-flow.invalid' : /^(mailto:|https:)/.test(contact) ? contact : `mailto:${contact}`;

export function createPushSender(cfg: PushConfig): PushSender {
  const configured = Boolean(cfg.publicKey && cfg.privateKey);
  const agent = cfg.extraCaCerts ? new https.Agent({ ca: [...tls.rootCertificates, cfg.extraCaCerts], keepAlive: true }) : undefined;
  return {
    configured,
    async send(target, payload, opts = {}) {
      if (!configured) return { outcome: 'failed', retryable: false, statusCode: null, message: 'Web Push is not configured: set VAPID_PUBLIC_KEY and VAPID_PRIVATE_KEY' };
      try {
        await webPush.sendNotification({ endpoint: target.endpoint, keys: { p256dh: target.p256dh, auth: target.auth } }, payload, {
          vapidDetails: { subject: subjectOf(cfg.contact), publicKey: cfg.publicKey!, privateKey: cfg.privateKey! },
          TTL: opts.ttlSeconds ?? 24 * 3600,
          contentEncoding: 'aes128gcm',
          timeout: cfg.timeoutMs ?? 10_000,
          ...(opts.topic ? { topic: opts.topic } : {}),
          ...(agent ? { agent } : {}),
        });
        return { outcome: 'delivered' };
      } catch (err) {
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
  });
