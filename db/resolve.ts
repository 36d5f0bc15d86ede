import path from 'node:path';
import { ConfigError, type Config } from '../src/config.js';
import type { Logger } from '../src/core/logging.js';
import { embeddedPostgresInstalled, startEmbeddedPostgres } from './embedded.js';

export interface ResolvedDatabase {
  url: string;
  embedded: boolean;
  /** Stops the embedded server when this process started it; a no-op otherwise. */
  stop(): Promise<void>;
}

/** DATABASE_URL when set; otherwise the embedded PostgreSQL whose data lives in DATA_DIR/pg. */
export async function resolveDatabase(config: Config, log: Logger): Promise<ResolvedDatabase> {
  if (config.DATABASE_URL) return { url: config.DATABASE_URL, embedded: false, stop: async () => {} };
  if (!embeddedPostgresInstalled()) {
    throw new ConfigError('DATABASE_URL is not set and the embedded PostgreSQL (a development dependency) is not installed: set DATABASE_URL');
  }
  const dataDir = path.resolve(config.DATA_DIR, 'pg');
  log.info({ dataDir, port: config.EMBEDDED_PG_PORT }, 'DATABASE_URL not set: starting embedded PostgreSQL');
  const pg = await startEmbeddedPostgres({
    dataDir,
    port: config.EMBEDDED_PG_PORT,
    persistent: true,
    log: (line) => log.debug(line),
  });
  return { url: pg.url, embedded: true, stop: () => pg.stop() };
}
