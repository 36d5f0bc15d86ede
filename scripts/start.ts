import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { createDatabase } from '../db/index.js';
import { migrateToLatest } from '../db/migrate.js';
import { resolveDatabase, type ResolvedDatabase } from '../db/resolve.js';
import { ConfigError, isUnset, loadConfig } from '../src/config.js';
import { createLogger } from '../src/core/logging.js';
import { PROJECT_ROOT } from '../src/project-root.js';

// `npm start`: the whole service on one machine. Loads .env, starts the embedded PostgreSQL when no
// DATABASE_URL is set, migrates, then runs the API and the worker as child processes and stops
// everything together: on SIGTERM/SIGINT, and when either child dies (exiting non-zero, so that a
// supervisor restarts the whole). Runs compiled (dist/, after `npm run build`) or from the TypeScript sources
// under tsx; the children run the same way it does.

const compiled = import.meta.url.endsWith('.js');
// `.env` of the folder it is started in (for `npm start`, the repository), read before moving to
// the repository; variables already in the environment win over it.
const envFile = path.resolve('.env');
process.chdir(PROJECT_ROOT);
if (fs.existsSync(envFile)) process.loadEnvFile(envFile);
if (isUnset(process.env.NODE_ENV)) process.env.NODE_ENV = 'development';
if (process.env.NODE_ENV === 'development' && isUnset(process.env.AUTH_DEV_LOGIN)) process.env.AUTH_DEV_LOGIN = 'true';

/** How long a child has to stop after SIGTERM before it is killed, so a stop ends within 10 s. */
const CHILD_STOP_GRACE_MS = 5_000;

async function waitForLive(url: string, timeoutMs: number, stopped: () => boolean): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline && !stopped()) {
    try {
      if ((await fetch(url)).ok) return true;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 150));
  }
  return false;
}

const hasExited = (child: ChildProcess) => child.exitCode !== null || child.signalCode !== null;

async function main() {
  const config = loadConfig();
  const log = createLogger(config.LOG_LEVEL, { process: 'start' });
  const children = new Map<string, ChildProcess>();
  let database: ResolvedDatabase | undefined;
  let databaseStarting: Promise<unknown> = Promise.resolve();
  let stopping = false;

  /**
   * Stops the children (SIGTERM, then SIGKILL after the grace), then the embedded database, then
   * exits with `code`. Once: a child's death, SIGTERM or SIGINT, whichever comes first. A child
   * killed by a signal has no exit code, only a signal code; both mean it is gone.
   */
  const stop = async (code: number): Promise<void> => {
    if (stopping) return;
    stopping = true;
    await Promise.all(
      [...children.values()].map(
        (child) =>
          new Promise<void>((resolve) => {
            if (hasExited(child)) return resolve();
            child.once('exit', () => resolve());
            child.kill('SIGTERM');
            setTimeout(() => hasExited(child) || child.kill('SIGKILL'), CHILD_STOP_GRACE_MS).unref();
          }),
      ),
    );
    await databaseStarting.catch(() => undefined); // a database still starting is stopped once up
    await database?.stop().catch((err: unknown) => log.error({ err }, 'could not stop the embedded database'));
    process.exit(code);
  };
  // From the start: a stop requested while the database starts still stops it.
  process.on('SIGINT', () => void stop(0));
  process.on('SIGTERM', () => void stop(0));

  const starting = resolveDatabase(config, log).then((d) => (database = d));
  databaseStarting = starting;
  const running = await starting;
  if (stopping) return;
  const { db, pool } = createDatabase(running.url, { max: 2 });
  await migrateToLatest(db, pool);
  await db.destroy();
  if (stopping) return;

  const env = { ...process.env, DATABASE_URL: running.url };
  for (const [name, entry] of [['api', 'src/main'], ['worker', 'jobs/worker']] as const) {
    const args = compiled ? [`dist/${entry}.js`] : ['--import', 'tsx', `${entry}.ts`];
    const child = spawn(process.execPath, args, { env, stdio: 'inherit' });
    children.set(name, child);
    const died = (code: number | null, signal: NodeJS.Signals | null) => {
      if (stopping) return;
      log.error({ process: name, code, signal }, `${name} exited; stopping the service`);
      void stop(code || 1); // never 0: the service did not stop because it was asked to
    };
    child.on('exit', died);
    child.on('error', (err) => {
      log.error({ process: name, err }, `${name} could not be started`);
      died(null, null);
    });
  }

  const host = config.HOST === '0.0.0.0' ? '127.0.0.1' : config.HOST;
  const base = `http://${host}:${config.PORT}`;
  if (!(await waitForLive(`${base}/health/live`, 60_000, () => stopping))) {
    if (stopping) return;
    log.error('the API did not come up within 60 s');
    return stop(1);
  }
  // Since the command started: `npm start` compiles dist/ in this same process first (scripts/start.mjs).
  const seconds = process.uptime().toFixed(1);
  const lines = [
    '',
    `  Perpetua Flow API is up in ${seconds}s: ${base}/api/v1  (docs: ${base}/api/v1/docs)`,
    `  Database: ${running.embedded ? `embedded PostgreSQL, data in ${path.resolve(config.DATA_DIR, 'pg')}` : 'DATABASE_URL'}; worker running.`,
  ];
  if (config.devLoginEnabled) {
    lines.push(
      '  Sign in without Google (AUTH_DEV_LOGIN):',
      `    curl -s -X POST ${base}/api/v1/auth/dev/login -H 'content-type: application/json' -d '{"email":"you@example.com"}'`,
      '  then send the access_token as "Authorization: Bearer <token>".',
    );
  }
  lines.push('  Stop with Ctrl-C.', '');
  process.stdout.write(`${lines.join('\n')}\n`);
}

main().catch((err) => {
  console.error(err instanceof ConfigError ? err.message : err);
  process.exit(1);
});
