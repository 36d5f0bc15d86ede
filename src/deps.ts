import type pg from 'pg';
import type { Database } from '../db/index.js';
import type { Config } from './config.js';
import type { TokenIssuer } from './domain/auth/sessions.js';
import type { SigningKeys } from './domain/auth/signing-keys.js';
import type { Contract } from './core/contract.js';
import type { Logger } from './core/logging.js';
import type { Metrics } from './http/metrics.js';
import type { RateLimits } from './http/rate-limit.js';
import { checkoutFromConfig, type CheckoutClient } from './integrations/checkout.js';
import { createSpeechProvider, type SpeechProvider } from './integrations/deepgram.js';
import { createGoogleVerifier, type GoogleVerifier } from './integrations/google.js';
import { createAiProvider, type AiProvider } from './integrations/openai.js';
import { pushFromConfig, type PushSender } from './integrations/web-push.js';
import { webhookSenderFromConfig, type WebhookSender } from './integrations/webhook-sender.js';
import { createRateLimits } from './http/rate-limit.js';
import { createMetrics } from './http/metrics.js';
import { loadContract } from './core/contract.js';
import { LiveKeyCache, type LiveKeys } from './domain/live-keys.js';
import { defineLiveAccounts } from './domain/users/live-accounts.js';
import { defineLiveSessions } from './domain/auth/live-sessions.js';
import { LiveUpdates } from './domain/live-updates/hub.js';
import { defineLivePersonalTokens, PersonalTokens } from './domain/auth/personal-tokens.js';

/** Everything a request handler or job may use, built once per process (or per test app). */
export interface AppDeps {
  config: Config;
  db: Database;
  pool: pg.Pool;
  log: Logger;
  metrics: Metrics;
  contract: Contract;
  tokens: TokenIssuer;
  google: GoogleVerifier;
  rateLimits: RateLimits;
  checkout: CheckoutClient;
  push: PushSender;
  /** Outgoing webhooks: the API checks URLs with it (the worker sends). */
  webhooks: WebhookSender;
  /** The AI provider (OpenAI-compatible); answers 503 naming OPENAI_API_KEY when not configured. */
  ai: AiProvider;
  /** Deepgram; answers 503 naming DEEPGRAM_API_KEY when not configured. */
  speech: SpeechProvider;
  /** Remembers live accounts and sessions; the app listens for their ends while it runs. */
  liveKeys: LiveKeyCache;
  /** Which accounts exist, for the per-request token check. */
  liveAccounts: LiveKeys;
  /** Which sessions (a token's `sid`) are live, for the per-request token check. */
  liveSessions: LiveKeys;
  /** The open GET /events streams of this process, woken through `liveKeys`' connection. */
  liveUpdates: LiveUpdates;
  /** Resolves personal access tokens (`pfpat_…`); a deleted one stops at once on every process. */
  personalTokens: PersonalTokens;
}

export function createDeps(opts: { config: Config; db: Database; pool: pg.Pool; log: Logger; keys: SigningKeys; contract?: Contract }): AppDeps {
  const { config } = opts;
  const liveKeys = new LiveKeyCache({ log: opts.log });
  const liveAccounts = defineLiveAccounts(liveKeys, opts.db);
  const liveSessions = defineLiveSessions(liveKeys, opts.db);
  return {
    config,
    db: opts.db,
    pool: opts.pool,
    log: opts.log,
    metrics: createMetrics({ pool: opts.pool }),
    contract: opts.contract ?? loadContract(),
    tokens: {
      keys: opts.keys,
      access: { issuer: config.JWT_ISSUER, audience: config.JWT_AUDIENCE, expiresInSeconds: config.JWT_ACCESS_EXPIRY_MINUTES * 60 },
      refreshTtlDays: config.JWT_REFRESH_EXPIRY_DAYS,
      refreshReuseGraceSeconds: config.JWT_REFRESH_REUSE_GRACE_SECONDS,
    },
    google: createGoogleVerifier({ clientId: config.GOOGLE_CLIENT_ID, jwksUrl: config.GOOGLE_JWKS_URL }),
    rateLimits: createRateLimits(config, opts.pool),
    checkout: checkoutFromConfig(config),
    push: pushFromConfig(config),
    webhooks: webhookSenderFromConfig(config),
    ai: createAiProvider(config, opts.log),
    speech: createSpeechProvider(config, opts.log),
    liveKeys,
    liveAccounts,
    liveSessions,
    personalTokens: new PersonalTokens(opts.db, defineLivePersonalTokens(liveKeys, opts.db)),
    liveUpdates: new LiveUpdates({ db: opts.db, keys: liveKeys, liveAccounts, liveSessions, log: opts.log }),
  };
}
