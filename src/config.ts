import { z } from 'zod';

// Every setting the service reads, parsed and checked once at start-up. A feature whose provider is
// not configured stays off and answers 503 naming the variable; only what the service cannot run
// without (a database in production, signing keys in production) stops start-up.

const bool = z
  .enum(['true', 'false', '1', '0', 'yes', 'no', ''])
  .transform((v) => v === 'true' || v === '1' || v === 'yes');
const int = (def: number, min = 0, max = Number.MAX_SAFE_INTEGER) =>
  z.coerce.number().int().min(min).max(max).default(def);
const optional = z
  .string()
  .optional()
  .transform((v) => (v === undefined || v.trim() === '' ? undefined : v));
// PEM keys arrive from env files with literal "\n"; accept both forms.
const pem = optional.transform((v) => v?.replace(/\\n/g, '\n'));

const schema = z.object({
  NODE_ENV: z.enum(['development', 'test', 'production']).default('development'),
  HOST: z.string().default('127.0.0.1'),
  PORT: int(8000, 0, 65535),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  DATABASE_URL: optional,
  DATABASE_POOL_MAX: int(10, 1, 200),
  // An API query with no answer for this long is abandoned and its connection dropped (a dead network
  // path would otherwise hold it, and the pool with it, until TCP gives up many minutes later).
  DATABASE_QUERY_TIMEOUT_MS: int(30_000, 100, 600_000),
  DATA_DIR: z.string().default('.data'),
  EMBEDDED_PG_PORT: int(54329, 1, 65535),
  BODY_LIMIT_BYTES: int(1_048_576, 1024, 50 * 1_048_576),
  // Slow clients: the headers must arrive within the first, the whole request within the second.
  HTTP_HEADERS_TIMEOUT_MS: int(20_000, 100, 600_000),
  HTTP_REQUEST_TIMEOUT_MS: int(60_000, 100, 3_600_000),
  CORS_ORIGINS: z
    .string()
    .default('http://localhost:3000')
    .transform((v) => v.split(',').map((o) => o.trim()).filter(Boolean)),
  TRUST_PROXY: z.string().default('loopback'),
  // When set, /metrics answers only to `Authorization: Bearer <METRICS_TOKEN>` (recommended in production).
  METRICS_TOKEN: optional.pipe(z.string().min(16, 'must be at least 16 characters').optional()),

  JWT_PRIVATE_KEY: pem,
  JWT_PUBLIC_KEY: pem,
  // Served in /.well-known/jwks.json, whose contract bounds a kid to 256 characters.
  JWT_KEY_ID: optional.pipe(z.string().max(256).optional()),
  // Rotation: the previous public key keeps verifying tokens it signed until they expire.
  JWT_PREVIOUS_PUBLIC_KEY: pem,
  JWT_PREVIOUS_KEY_ID: optional.pipe(z.string().max(256).optional()),
  JWT_ISSUER: z.string().default('perpetua-flow'),
  JWT_AUDIENCE: z.string().default('perpetua-flow-api'),
  JWT_ACCESS_EXPIRY_MINUTES: int(15, 1, 60),
  JWT_REFRESH_EXPIRY_DAYS: int(7, 1, 30),
  // RFC 9700 grace: a rotated refresh token presented again this soon (two tabs refreshing at once)
  // gets the same new one; presented later it is a replay and revokes its session. 0: no grace.
  JWT_REFRESH_REUSE_GRACE_SECONDS: int(10, 0, 60),

  GOOGLE_CLIENT_ID: optional,
  GOOGLE_JWKS_URL: z.string().url().default('https://www.googleapis.com/oauth2/v3/certs'),
  AUTH_DEV_LOGIN: bool.default(false),

  RATE_LIMIT_GENERAL: int(100, 1),
  RATE_LIMIT_AI: int(20, 1),
  RATE_LIMIT_AUTH: int(10, 1),
  // Checkout.com webhook deliveries per client IP, and fetches of one calendar feed URL (whoever fetches it).
  RATE_LIMIT_WEBHOOK: int(300, 1),
  RATE_LIMIT_CALENDAR_FEED: int(30, 1),
  RATE_LIMIT_WINDOW_SECONDS: int(60, 1, 3600),
  RATE_LIMIT_STORE: z.enum(['memory', 'postgres']).default('memory'),

  IDEMPOTENCY_TTL_HOURS: int(24, 1, 168),
  // GET /events: a comment this often on an idle stream; keep it under the proxy's idle timeouts
  // (deploy/haproxy.cfg: 65 s). Lower only in tests.
  EVENTS_HEARTBEAT_MS: int(25_000, 50, 55_000),

  WORKER_CONCURRENCY: int(4, 1, 64),
  // How often an idle worker looks for jobs that became due (new jobs are announced at once by
  // NOTIFY; jobs scheduled for later, like reminders, are found by this poll): a reminder fires up
  // to this late. One indexed query per idle concurrency slot each time.
  WORKER_POLL_INTERVAL_MS: int(250, 50, 60_000),
  WORKER_HEARTBEAT_SECONDS: int(10, 1, 300),
  WORKER_HEARTBEAT_STALE_SECONDS: int(60, 5, 3600),
  // The worker's own GET /metrics, on HOST:WORKER_METRICS_PORT; 0 or empty: not served (the default,
  // so several workers on one machine do not clash; the image sets 9465).
  WORKER_METRICS_PORT: int(0, 0, 65535),

  // AI (issue #4): any OpenAI-compatible server; unset key → AI answers 503 naming OPENAI_API_KEY.
  OPENAI_API_KEY: optional,
  OPENAI_BASE_URL: optional.pipe(z.string().url().optional()),
  OPENAI_MODEL: z.string().min(1).default('gpt-4o-mini'),
  OPENAI_TIMEOUT_MS: int(30_000, 100, 120_000),
  DEEPGRAM_API_KEY: optional,
  DEEPGRAM_URL: optional.pipe(z.string().url().optional()),
  DEEPGRAM_MODEL: z.string().min(1).default('nova-3'),
  DEEPGRAM_TIMEOUT_MS: int(60_000, 100, 300_000),
  AI_CREDIT_CHAT: int(1, 1, 100),
  AI_CREDIT_SUBTASK: int(1, 1, 100),
  AI_CREDIT_CONVERSION: int(1, 1, 100),
  AI_CREDIT_TRANSCRIPTION_PER_MIN: int(5, 1, 100),
  KICKSTART_CREDITS: int(5, 0, 1000),
  // Live transcription stops at this much relayed audio; lower only in tests.
  VOICE_MAX_DURATION_SECONDS: int(300, 1, 300),
  // Test-only: lets POST /ai/transcribe download from 127.0.0.1/::1 (refused in production).
  TRANSCRIBE_ALLOW_LOOPBACK: bool.default(false),
  // Extra CA certificates (PEM) trusted when downloading audio_url, e.g. a private PKI.
  TRANSCRIBE_EXTRA_CA_CERTS: pem,

  // Issue #5: Checkout.com payments, Pro credits, Web Push.
  CHECKOUT_SECRET_KEY: optional,
  CHECKOUT_WEBHOOK_SECRET: optional,
  CHECKOUT_API_URL: z.string().url().default('https://api.checkout.com'),
  /** ISO 3166 country Checkout.com requires as the billing country of a hosted payment page. */
  CHECKOUT_BILLING_COUNTRY: z.string().regex(/^[A-Z]{2}$/).default('US'),
  /** Where the hosted payment page sends the user back to. */
  FRONTEND_URL: z.string().url().default('http://localhost:3000'),
  /**
   * The API's public address with its base path (`https://api.example.com/api/v1`), for the links
   * the API hands out (calendar feed URLs, the API index). Required in production; unset in
   * development: http://HOST:PORT/api/v1. Never taken from a request's Host header.
   */
  PUBLIC_API_URL: optional.pipe(z.string().url().regex(/^https?:\/\//, 'must be an http(s) URL').optional()),
  PRO_PRICE_MINOR: int(999, 1),
  PRO_PRICE_CURRENCY: z.string().regex(/^[A-Z]{3}$/).default('USD'),
  CREDIT_PRICE_MINOR: int(10, 1),
  PRO_DAILY_CREDITS: int(10, 0, 10_000),
  PRO_MONTHLY_CREDITS: int(100, 0, 100_000),
  MAX_CREDIT_CARRYOVER: int(50, 0, 100_000),
  VAPID_PUBLIC_KEY: optional,
  VAPID_PRIVATE_KEY: optional,
  VAPID_CONTACT_EMAIL: optional,
  // Extra CA certificates (PEM) trusted when delivering Web Push, e.g. a private push service.
  WEB_PUSH_EXTRA_CA_CERTS: pem,
  // Test-only: lets push endpoints and outgoing webhook URLs on 127.0.0.1/::1 be registered and
  // delivered to (refused in production).
  PUSH_ALLOW_LOOPBACK: bool.default(false),
  // Extra CA certificates (PEM) trusted when delivering outgoing webhooks (tests' local receivers).
  WEBHOOK_EXTRA_CA_CERTS: pem,
});

/** Every variable the service reads (.env.example documents each one; a test keeps them in step). */
export const CONFIG_VARIABLES = Object.keys(schema.shape);

export type Config = Omit<z.infer<typeof schema>, 'PUBLIC_API_URL'> & {
  /** Always set, without a trailing slash (see the schema). */
  PUBLIC_API_URL: string;
  isProduction: boolean;
  devLoginEnabled: boolean;
};

/** Where this process answers when no public address is configured (development). */
function localApiUrl(host: string, port: number): string {
  const h = host === '' || host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '[::1]' : host.includes(':') ? `[${host}]` : host;
  return `http://${h}:${port}/api/v1`;
}

export class ConfigError extends Error {}

/** A variable set to nothing (`PORT=`, as an env file that lists every variable has it) is not set. */
export const isUnset = (value: string | undefined): boolean => value === undefined || value.trim() === '';

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  // One rule for every variable: an empty value means the default.
  const parsed = schema.safeParse(Object.fromEntries(Object.entries(env).filter(([, v]) => !isUnset(v))));
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`);
    throw new ConfigError(`Invalid configuration:\n${lines.join('\n')}`);
  }
  const c = parsed.data;
  const isProduction = c.NODE_ENV === 'production';
  if (isProduction && !c.DATABASE_URL) throw new ConfigError('DATABASE_URL is required in production');
  if (isProduction && (!c.JWT_PRIVATE_KEY || !c.JWT_PUBLIC_KEY)) {
    throw new ConfigError('JWT_PRIVATE_KEY and JWT_PUBLIC_KEY are required in production');
  }
  if (isProduction && c.TRANSCRIBE_ALLOW_LOOPBACK) throw new ConfigError('TRANSCRIBE_ALLOW_LOOPBACK is for tests only and is refused in production');
  if (isProduction && c.PUSH_ALLOW_LOOPBACK) throw new ConfigError('PUSH_ALLOW_LOOPBACK is for tests only and is refused in production');
  if (c.HTTP_HEADERS_TIMEOUT_MS > c.HTTP_REQUEST_TIMEOUT_MS) {
    throw new ConfigError('HTTP_HEADERS_TIMEOUT_MS must not be longer than HTTP_REQUEST_TIMEOUT_MS (the headers are part of the request)');
  }
  if (Boolean(c.JWT_PRIVATE_KEY) !== Boolean(c.JWT_PUBLIC_KEY)) {
    throw new ConfigError('Set both JWT_PRIVATE_KEY and JWT_PUBLIC_KEY, or neither (development only)');
  }
  if (Boolean(c.VAPID_PUBLIC_KEY) !== Boolean(c.VAPID_PRIVATE_KEY)) {
    throw new ConfigError('Set both VAPID_PUBLIC_KEY and VAPID_PRIVATE_KEY, or neither (Web Push stays off)');
  }
  if (isProduction && !c.PUBLIC_API_URL) {
    throw new ConfigError('PUBLIC_API_URL is required in production: the address clients reach the API at, e.g. https://api.example.com/api/v1');
  }
  const publicApiUrl = (c.PUBLIC_API_URL ?? localApiUrl(c.HOST, c.PORT)).replace(/\/+$/, '');
  return { ...c, PUBLIC_API_URL: publicApiUrl, isProduction, devLoginEnabled: c.AUTH_DEV_LOGIN && !isProduction };
}
