import pino, { type Logger } from 'pino';

export type { Logger };

/** Structured JSON logs on stdout; one line per request plus whatever the domains add. */
export function createLogger(level: string, base: Record<string, unknown> = {}, destination?: pino.DestinationStream): Logger {
  const options: pino.LoggerOptions = {
    level,
    base: { service: 'perpetua-flow', ...base },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
    redact: { paths: ['req.headers.authorization', '*.refresh_token', '*.access_token', '*.id_token'], remove: true },
  };
  return destination ? pino(options, destination) : pino(options);
}
