import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { createDatabase } from '../db/index.js';
import { migrateToLatest } from '../db/migrate.js';
import { resolveDatabase } from '../db/resolve.js';
import { ConfigError, loadConfig } from '../src/config.js';
import { createLogger } from '../src/http/logging.js';
import { PROJECT_ROOT } from '../src/project-root.js';

// `npm start`: the whole service on one machine. Loads .env, starts the embedded PostgreSQL when no
// DATABASE_URL is set, migrates, then runs the API and the worker as child processes and stops
// everything together. Runs compiled (dist/, after `npm run build`) or from the TypeScript sources
// under tsx; the children run the same way it does.

const compiled = import.meta.url.endsWith('.js');
process.chdir(PROJECT_ROOT);
if (fs.existsSync('.env')) process.loadEnvFile('.env');
process.env.NODE_ENV ??= 'development';
if (process.env.NODE_ENV === 'development') process.env.AUTH_DEV_LOGIN ??= 'true';

async function waitForLive(url: string, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      if ((await fetch(url)).ok) return true;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 150));
  }
  return false;
}

async function main() {
  const startedAt = Date.now();
  const config = loadConfig();
  const log = createLogger(config.LOG_LEVEL, { process: 'start' });
  const database = await resolveDatabase(config, log);
  const { db, pool } = createDatabase(database.url, { max: 2 });
  await migrateToLatest(db, pool);
  await db.destroy();

  const env = { ...process.env, DATABASE_URL: database.url };
  const children = new Map<string, ChildProcess>();
  let stopping = false;

  const stop = async (code: number) => {
    if (stopping) return;
    stopping = true;
    await Promise.all(
      [...children.values()].map(
        (child) =>
          new Promise<void>((resolve) => {
            if (child.exitCode !== null) return resolve();
            child.once('exit', () => resolve());
            child.kill('SIGTERM');
            setTimeout(() => child.kill('SIGKILL'), 10_000).unref();
          }),
      ),
    );
    await database.stop();
    process.exit(code);
  };

  for (const [name, entry] of [['api', 'src/main'], ['worker', 'jobs/worker']] as const) {
    const args = compiled ? [`dist/${entry}.js`] : ['--import', 'tsx', `${entry}.ts`];
    const child = spawn(process.execPath, args, { env, stdio: 'inherit' });
    children.set(name, child);
    child.on('exit', (code, signal) => {
      if (stopping) return;
      log.error({ process: name, code, signal }, `${name} exited; stopping the service`);
      void stop(code ?? 1);
    });
  }
  process.on('SIGINT', () => void stop(0));
  process.on('SIGTERM', () => void stop(0));

  const host = config.HOST === '0.0.0.0' ? '127.0.0.1' : config.HOST;
  const base = `http://${host}:${config.PORT}`;
  if (!(await waitForLive(`${base}/health/live`, 60_000))) {
    log.error('the API did not come up within 60 s');
    return stop(1);
  }
  const seconds = ((Date.now() - startedAt) / 1000).toFixed(1);
  const lines = [
    '',
    `  Perpetua Flow API is up in ${seconds}s: ${base}/api/v1  (docs: ${base}/api/v1/docs)`,
    `  Database: ${database.embedded ? `embedded PostgreSQL, data in ${path.resolve(config.DATA_DIR, 'pg')}` : 'DATABASE_URL'}; worker running.`,
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
