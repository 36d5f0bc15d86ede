import { createDatabase } from '../db/index.js';
import { migrateToLatest } from '../db/migrate.js';
import { resolveDatabase } from '../db/resolve.js';
import { ConfigError, loadConfig } from '../src/config.js';
import { createLogger } from '../src/http/logging.js';
import { startWorker } from './runner.js';

// The worker process: configuration → database (migrated) → graphile-worker with our tasks and cron.

async function main() {
  const config = loadConfig();
  const log = createLogger(config.LOG_LEVEL, { process: 'worker' });
  const database = await resolveDatabase(config, log);
  const { db, pool } = createDatabase(database.url, { max: config.WORKER_CONCURRENCY + 3, applicationName: 'perpetua-flow-worker' });
  await migrateToLatest(db, pool);
  const worker = await startWorker({ config, db, pool, log });
  log.info({ workerId: worker.workerId, concurrency: config.WORKER_CONCURRENCY }, 'worker started');

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'worker shutting down');
    await worker.stop();
    await db.destroy();
    await database.stop();
    process.exit(0);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
}

main().catch((err) => {
  if (err instanceof ConfigError) console.error(err.message);
  else console.error(err);
  process.exit(1);
});
