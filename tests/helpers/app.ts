import { randomBytes } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { inject } from 'vitest';
import { createDatabase, type DatabaseHandle, type DatabaseOptions } from '../../db/index.js';
import { createApp, type App } from '../../src/app.js';
import { loadConfig, type Config } from '../../src/config.js';
import { createDeps, type AppDeps } from '../../src/deps.js';
import { generateSigningKeys, loadSigningKeys } from '../../src/domain/auth/signing-keys.js';
import { createLogger } from '../../src/core/logging.js';
import { startWorker, type RunningWorker } from '../../jobs/runner.js';
import { TestClient } from './client.js';

const withDatabase = (url: string, database: string) => {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
};

let keyPair: { privatePem: string; publicPem: string } | undefined;
/** One RSA key pair per test process (generating one takes ~50 ms). */
export const testKeyPair = () => (keyPair ??= generateSigningKeys());

/** A fresh database cloned from the migrated template; dropped by `drop()`. */
export async function createTestDatabase(): Promise<{ url: string; name: string; drop(): Promise<void> }> {
  const admin = inject('pgAdminUrl');
  const name = `${inject('templateDatabase')}_f_${randomBytes(4).toString('hex')}`;
  const c = new pg.Client({ connectionString: admin });
  await c.connect();
  await c.query(`create database ${name} template ${inject('templateDatabase')}`);
  await c.end();
  return {
    url: withDatabase(admin, name),
    name,
    async drop() {
      const d = new pg.Client({ connectionString: admin });
      await d.connect();
      await d.query(`drop database if exists ${name} with (force)`);
      await d.end();
    },
  };
}

export function testConfig(env: Record<string, string> = {}): Config {
  const keys = testKeyPair();
  return loadConfig({
    NODE_ENV: 'test',
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    AUTH_DEV_LOGIN: 'true',
    JWT_PRIVATE_KEY: keys.privatePem,
    JWT_PUBLIC_KEY: keys.publicPem,
    DATA_DIR: path.join(os.tmpdir(), 'perpetua-test-data'),
    WORKER_POLL_INTERVAL_MS: '100',
    WORKER_HEARTBEAT_SECONDS: '1',
    CORS_ORIGINS: 'http://localhost:3000',
    // Tests sign in many users from one IP; tests/platform/rate-limit.test.ts sets real limits.
    RATE_LIMIT_AUTH: '100000',
    RATE_LIMIT_GENERAL: '100000',
    RATE_LIMIT_AI: '100000',
    RATE_LIMIT_WEBHOOK: '100000',
    RATE_LIMIT_CALENDAR_FEED: '100000',
    ...env,
  });
}

export interface TestApp {
  baseUrl: string;
  api: TestClient;
  deps: AppDeps;
  db: DatabaseHandle['db'];
  config: Config;
  databaseUrl: string;
  app: App;
  worker?: RunningWorker;
  startWorker(): Promise<RunningWorker>;
  close(): Promise<void>;
}

export interface TestAppOptions {
  env?: Record<string, string>;
  /** Also run the job worker in this process. */
  worker?: boolean;
  /** Reuse a database instead of cloning a new one (e.g. two instances on one database). */
  databaseUrl?: string;
  /** Where the service's log lines go (one JSON line per write) instead of stdout; set LOG_LEVEL in `env`. */
  logTo?: { write(line: string): void };
  /** Sees every statement the service runs through Kysely. */
  onQuery?: DatabaseOptions['onQuery'];
}

/** The real HTTP server on 127.0.0.1 with a database of its own. */
export async function startTestApp(opts: TestAppOptions = {}): Promise<TestApp> {
  const database = opts.databaseUrl ? undefined : await createTestDatabase();
  const databaseUrl = opts.databaseUrl ?? database!.url;
  const config = testConfig(opts.env);
  // TEST_POOL_MAX=1 finds code that takes a second pool connection inside a transaction: it hangs
  const handle = createDatabase(databaseUrl, { max: Number(process.env.TEST_POOL_MAX ?? 10), onQuery: opts.onQuery });
  const log = createLogger(config.LOG_LEVEL, {}, opts.logTo);
  const deps = createDeps({ config, db: handle.db, pool: handle.pool, log, keys: loadSigningKeys(config, log) });
  const app = await createApp(deps);
  await new Promise<void>((resolve) => app.server.listen(0, '127.0.0.1', resolve));
  const { port } = app.server.address() as { port: number };
  const baseUrl = `http://127.0.0.1:${port}`;
  const workers: RunningWorker[] = [];
  const t: TestApp = {
    baseUrl,
    api: new TestClient(baseUrl),
    deps,
    db: handle.db,
    config,
    databaseUrl,
    app,
    async startWorker() {
      const w = await startWorker({ config, db: handle.db, pool: handle.pool, log });
      workers.push(w);
      t.worker ??= w;
      return w;
    },
    async close() {
      for (const w of workers) await w.stop();
      await app.close();
      await handle.close();
      // DROP DATABASE waits for a checkpoint (1-5 s on a busy server): it finishes in the background
      // while this worker runs its next file (test files share worker processes, vitest.config.ts);
      // global teardown drops whatever is left (tests/setup/global-setup.ts).
      if (database) void database.drop().catch(() => {});
    },
  };
  if (opts.worker) await t.startWorker();
  return t;
}

/** Collects the service's log lines: pass it as `logTo`, with LOG_LEVEL set in `env`. */
export function logCapture(): { lines: string[]; write(line: string): void; entries(): Record<string, unknown>[] } {
  const lines: string[] = [];
  return { lines, write: (line) => void lines.push(line), entries: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>) };
}
