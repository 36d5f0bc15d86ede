import { ConfigError } from './config.js';
import type { Logger } from './core/logging.js';

/**
 * Runs a process entry point (API, worker): on SIGTERM or SIGINT the `stop` steps run once, in
 * order, then the process exits 0; a failure while starting prints the reason (a configuration
 * error without a stack) and exits 1.
 */
export function runProcess(start: () => Promise<{ log: Logger; stop: Array<() => Promise<void>> }>): void {
  start()
    .then(({ log, stop }) => {
      let stopping = false;
      const shutdown = async (signal: string) => {
        if (stopping) return;
        stopping = true;
        log.info({ signal }, 'shutting down');
        for (const step of stop) await step();
        process.exit(0);
      };
      process.on('SIGTERM', () => void shutdown('SIGTERM'));
      process.on('SIGINT', () => void shutdown('SIGINT'));
    })
    .catch((err) => {
      console.error(err instanceof ConfigError ? err.message : err);
      process.exit(1);
    });
}
