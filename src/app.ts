import { randomUUID } from 'node:crypto';
import http from 'node:http';
import { createRequire } from 'node:module';
import path from 'node:path';
import express, { type ErrorRequestHandler } from 'express';
import type { AppDeps } from './deps.js';
import './domain/events/subscribers.js';
import { handlers } from './handlers/index.js';
import { API_ROOT, createDispatcher } from './http/dispatch.js';
import { AppError, databaseUnavailable, isDatabaseUnavailable } from './http/errors.js';
import { jsonBody } from './http/json-body.js';
import { requestState, requestTracking } from './http/request-state.js';
import { responseHeaders } from './http/response-headers.js';
import { createVoiceRelay, rejectUpgrade, VOICE_PATH } from './ws/voice.js';

export interface App {
  server: http.Server;
  /** Stops accepting connections and closes open ones. */
  close(): Promise<void>;
}

const swaggerUiDir = path.dirname(createRequire(import.meta.url).resolve('swagger-ui-dist/package.json'));

/** Errors of the middleware before the dispatcher, and stray errors, as the error envelope; never an HTML page. */
function errorEnvelope(deps: AppDeps): ErrorRequestHandler {
  return (err, req, res, _next) => {
    const state = requestState(res);
    let appError: AppError;
    if (err instanceof AppError) appError = err;
    else if (isDatabaseUnavailable(err)) {
      deps.log.warn({ err, request_id: state.requestId, operation: state.operationId }, 'database unavailable');
      appError = databaseUnavailable();
    } else {
      deps.log.error({ err, request_id: state.requestId, operation: state.operationId }, 'unhandled error');
      appError = new AppError(500, 'INTERNAL_ERROR', 'An unexpected error occurred');
    }
    state.errorCode = appError.code;
    if (res.headersSent) {
      res.destroy();
      return;
    }
    for (const [k, v] of Object.entries(appError.headers ?? {})) res.setHeader(k, v);
    res.status(appError.status).type('application/json').end(JSON.stringify(appError.toBody(state.requestId)));
  };
}

export async function createApp(deps: AppDeps): Promise<App> {
  const { config } = deps;
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.set('trust proxy', config.TRUST_PROXY);
  app.set('query parser', 'simple');

  app.use(requestTracking(deps.log, deps.metrics));
  app.use(responseHeaders(config.CORS_ORIGINS));

  // Probes and metrics also answer at the root, through the same pipeline as /api/v1.
  app.get(['/health/live', '/health/ready', '/metrics'], (req, _res, next) => {
    req.url = `${API_ROOT}${req.url}`;
    next();
  });
  // Swagger UI's scripts for /api/v1/docs; the page itself needs a CSP that lets them run.
  app.get(`${API_ROOT}/docs/assets/docs-init.js`, (_req, res) => {
    res.type('text/javascript').send("window.ui = SwaggerUIBundle({ url: 'openapi.json', dom_id: '#docs', deepLinking: true });\n");
  });
  app.use(`${API_ROOT}/docs/assets`, (_req, res, next) => {
    res.setHeader('Content-Security-Policy', "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'");
    next();
  }, express.static(swaggerUiDir, { index: false, fallthrough: false }));

  app.use(jsonBody({ limit: config.BODY_LIMIT_BYTES, keepRaw: (req) => req.path.startsWith(`${API_ROOT}/webhooks/`) }));
  app.use(createDispatcher(deps, handlers));
  app.use((req, _res, next) => next(new AppError(404, 'NOT_FOUND', `No operation at ${req.method} ${req.path}`)));
  app.use(errorEnvelope(deps));

  // Slow or stalled clients are cut off instead of holding sockets forever: headers must arrive
  // within HTTP_HEADERS_TIMEOUT_MS, the whole request within HTTP_REQUEST_TIMEOUT_MS. Node checks
  // these every connectionsCheckingInterval (30 s by default, which would let a slowloris hold a
  // socket up to 30 s longer than the timeout): a quarter of the shorter timeout instead.
  const server = http.createServer(
    {
      headersTimeout: config.HTTP_HEADERS_TIMEOUT_MS,
      requestTimeout: config.HTTP_REQUEST_TIMEOUT_MS,
      connectionsCheckingInterval: Math.max(100, Math.floor(Math.min(config.HTTP_HEADERS_TIMEOUT_MS, config.HTTP_REQUEST_TIMEOUT_MS) / 4)),
    },
    app,
  );
  server.keepAliveTimeout = 5_000;

  // WebSockets share the port: the voice relay on its path, a 404 for any other upgrade.
  const voice = createVoiceRelay(deps);
  server.on('upgrade', (req, socket, head) => {
    if (new URL(req.url ?? '/', 'http://upgrade').pathname === VOICE_PATH) return voice.handleUpgrade(req, socket, head);
    rejectUpgrade(socket, new AppError(404, 'NOT_FOUND', 'No WebSocket endpoint at this path'), randomUUID());
  });

  deps.liveAccounts.listen(deps.pool);

  return {
    server,
    close: async () => {
      await deps.liveAccounts.close();
      await voice.close();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}
