import { createDatabase } from '../db/index.js';
import { migrateToLatest } from '../db/migrate.js';
import { resolveDatabase } from '../db/resolve.js';
import { loadConfig } from '../src/config.js';
import { runProcess } from '../src/process.js';
import { createLogger } from '../src/core/logging.js';
import { startWorker } from './runner.js';

// The worker process: configuration → database (migrated) → graphile-worker with our tasks and cron.

async function main() {
  const config = loadConfig();
  const log = createLogger(config.LOG_LEVEL, { process: 'worker' });
  const database = await resolveDatabase(config, log);
  const { db, pool } = createDatabase(database.url, { max: config.WORKER_CONCURRENCY + 3, applicationName: 'perpetua-flow-worker' });
  await migrateToLatest(db, pool);
  const worker = await startWorker({ config, db, pool, log });
  log.info({ workerId: worker.workerId, concurrency: config.WORKER_CONCURRENCY, metrics: worker.metricsUrl ? `${worker.metricsUrl}/metrics` : null }, 'worker started');

  return { log, stop: [() => worker.stop(), () => db.destroy(), () => database.stop()] };
}

runProcess(main);
