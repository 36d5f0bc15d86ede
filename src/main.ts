import { createDatabase } from '../db/index.js';
import { migrateToLatest } from '../db/migrate.js';
import { resolveDatabase } from '../db/resolve.js';
import { createApp } from './app.js';
import { loadConfig } from './config.js';
import { runProcess } from './process.js';
import { createDeps } from './deps.js';
import { loadSigningKeys } from './domain/auth/signing-keys.js';
import { createLogger } from './core/logging.js';

// The API process: configuration → database (migrated) → app → listen.

async function main() {
  const config = loadConfig();
  const log = createLogger(config.LOG_LEVEL, { process: 'api' });
  const database = await resolveDatabase(config, log);
  // Migrations on a connection of their own: a long migration is not a dead connection.
  const migrator = createDatabase(database.url, { max: 2, applicationName: 'perpetua-flow-api' });
  await migrateToLatest(migrator.db, migrator.pool).finally(() => migrator.close());
  const { db, pool } = createDatabase(database.url, {
    max: config.DATABASE_POOL_MAX,
    applicationName: 'perpetua-flow-api',
    queryTimeoutMs: config.DATABASE_QUERY_TIMEOUT_MS,
  });
  const deps = createDeps({ config, db, pool, log, keys: loadSigningKeys(config, log) });
  const app = await createApp(deps);
  await new Promise<void>((resolve) => app.server.listen(config.PORT, config.HOST, resolve));
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : config.PORT;
  log.info({ port, host: config.HOST, devLogin: config.devLoginEnabled }, `API listening on http://${config.HOST}:${port}/api/v1`);
  if (config.isProduction && !config.METRICS_TOKEN) log.warn('METRICS_TOKEN is not set: /metrics is open to anyone who can reach this port');

  return { log, stop: [() => app.close(), () => db.destroy(), () => database.stop()] };
}

runProcess(main);
