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
  DATA_DIR: z.string().default('.data'),
  EMBEDDED_PG_PORT: int(54329, 1, 65535),
  BODY_LIMIT_BYTES: int(1_048_576, 1024, 50 * 1_048_576),
  CORS_ORIGINS: z
    .string()
    .default('http://localhost:3000')
    .transform((v) => v.split(',').map((o) => o.trim()).filter(Boolean)),
  TRUST_PROXY: z.string().default('loopback'),

  JWT_PRIVATE_KEY: pem,
  JWT_PUBLIC_KEY: pem,
  JWT_KEY_ID: optional,
  // Rotation: the previous public key keeps verifying tokens it signed until they expire.
  JWT_PREVIOUS_PUBLIC_KEY: pem,
  JWT_PREVIOUS_KEY_ID: optional,
  JWT_ISSUER: z.string().default('perpetua-flow'),
  JWT_AUDIENCE: z.string().default('perpetua-flow-api'),
  JWT_ACCESS_EXPIRY_MINUTES: int(15, 1, 60),
  JWT_REFRESH_EXPIRY_DAYS: int(7, 1, 30),

  GOOGLE_CLIENT_ID: optional,
  GOOGLE_JWKS_URL: z.string().url().default('https://www.googleapis.com/oauth2/v3/certs'),
  AUTH_DEV_LOGIN: bool.default(false),

  RATE_LIMIT_GENERAL: int(100, 1),
  RATE_LIMIT_AI: int(20, 1),
  RATE_LIMIT_AUTH: int(10, 1),
  RATE_LIMIT_WINDOW_SECONDS: int(60, 1, 3600),
  RATE_LIMIT_STORE: z.enum(['memory', 'postgres']).default('memory'),

  IDEMPOTENCY_TTL_HOURS: int(24, 1, 168),

  WORKER_CONCURRENCY: int(4, 1, 64),
  WORKER_POLL_INTERVAL_MS: int(1000, 50, 60_000),
  WORKER_HEARTBEAT_SECONDS: int(10, 1, 300),
  WORKER_HEARTBEAT_STALE_SECONDS: int(60, 5, 3600),
});

export type Config = z.infer<typeof schema> & { isProduction: boolean; devLoginEnabled: boolean };

export class ConfigError extends Error {}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = schema.safeParse(env);
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
  if (Boolean(c.JWT_PRIVATE_KEY) !== Boolean(c.JWT_PUBLIC_KEY)) {
    throw new ConfigError('Set both JWT_PRIVATE_KEY and JWT_PUBLIC_KEY, or neither (development only)');
  }
  return { ...c, isProduction, devLoginEnabled: c.AUTH_DEV_LOGIN && !isProduction };
}
