import { randomUUID } from 'node:crypto';
import http from 'node:http';
import { createRequire } from 'node:module';
import path from 'node:path';
import querystring from 'node:querystring';
import express, { type ErrorRequestHandler } from 'express';
import proxyaddr from 'proxy-addr';
import type { AppDeps } from './deps.js';
import { domainSubscribers } from './domain/events/subscribers.js';
import { domainEvents } from './domain/events/bus.js';
import { handlers } from './handlers/index.js';
import { API_ROOT, createDispatcher } from './http/dispatch.js';
import { AppError, DomainError, databaseUnavailable, errorBody, headersOf, isDatabaseUnavailable, statusOf, validationError } from './http/errors.js';
import { readJsonBody } from './http/json-body.js';
import { answerClientError } from './http/refusals.js';
import { requestState, requestTracker, type ApiRequest } from './http/request-state.js';
import { responseHeaders } from './http/response-headers.js';
import { createVoiceRelay, rejectUpgrade, VOICE_PATH } from './ws/voice.js';

export interface App {
  server: http.Server;
  /** Stops accepting connections and closes open ones. */
  close(): Promise<void>;
}

const swaggerUiDir = path.dirname(createRequire(import.meta.url).resolve('swagger-ui-dist/package.json'));

/** Any error as the error envelope (never an HTML page); a response already under way is cut off. */
function sendError(deps: AppDeps, res: http.ServerResponse, err: unknown): void {
  const state = requestState(res);
  let appError: DomainError;
  if (err instanceof DomainError) appError = err;
  else if (isDatabaseUnavailable(err)) {
    deps.log.warn({ err, request_id: state.requestId, operation: state.operationId }, 'database unavailable');
    appError = databaseUnavailable();
  } else {
    deps.log.error({ err, request_id: state.requestId, operation: state.operationId }, 'unhandled error');
    appError = new AppError('INTERNAL_ERROR', 'An unexpected error occurred');
  }
  state.errorCode = appError.code;
  if (res.headersSent) {
    res.destroy();
    return;
  }
  for (const [k, v] of Object.entries(headersOf(appError) ?? {})) res.setHeader(k, v);
  res.statusCode = statusOf(appError);
  const body = JSON.stringify(errorBody(appError, state.requestId));
  res.setHeader('Content-Type', 'application/json; charset=utf-8');
  res.setHeader('Content-Length', Buffer.byteLength(body)); // also on HEAD, where Node sends no body
  res.end(body);
}

/** Swagger UI's files for /api/v1/docs (the one part of the service that serves files). */
function docsAssets(deps: AppDeps): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  // Swagger UI's start script; the files need a CSP that lets them run.
  app.get(`${DOCS_ASSETS}/docs-init.js`, (_req, res) => {
    res.type('text/javascript').send(DOCS_INIT);
  });
  app.use(DOCS_ASSETS, (_req, res, next) => {
    res.setHeader('Content-Security-Policy', "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'");
    next();
  }, express.static(swaggerUiDir, { index: false, fallthrough: false }));
  // send's refusals are the client's: 400 for an escape that does not decode (`%ff`), and every
  // other 4xx (404, or 403 for a path that leaves the folder, `%2e%2e`) is a file that is not there.
  // Express knows an error handler by its four parameters.
  // eslint-disable-next-line @typescript-eslint/max-params
  app.use(((err, _req, res, _next) => {
    const status = (err as { status?: number }).status ?? 500;
    if (status === 400) return sendError(deps, res, validationError([{ field: 'path', message: 'is not a valid URL path' }], 'The path is not a valid URL path'));
    if (status >= 400 && status < 500) return sendError(deps, res, new AppError('NOT_FOUND', 'No such documentation file'));
    sendError(deps, res, err);
  }) as ErrorRequestHandler);
  return app;
}

const DOCS_ASSETS = `${API_ROOT}/docs/assets`;
/**
 * Starts Swagger UI on the contract with its servers (local development, http://localhost:8000)
 * replaced by the server that served the page: "Try it out" then calls the same origin, under any
 * host, port or path prefix, and needs no CORS. The page is `${API_ROOT}/docs`.
 */
const DOCS_INIT = `'use strict';
(function () {
  var apiRoot = new URL('.', location.href).pathname;
  var suffix = ${JSON.stringify(`${API_ROOT}/`)};
  var prefix = apiRoot.slice(-suffix.length) === suffix ? apiRoot.slice(0, -suffix.length) : '';
  function here(servers) {
    return servers.map(function (server) {
      var path = new URL(server.url, location.href).pathname.replace(/\\/$/, '');
      return { url: location.origin + prefix + path, description: 'The server of this page' };
    });
  }
  function sameOrigin(spec) {
    if (spec.servers) spec.servers = here(spec.servers);
    Object.keys(spec.paths || {}).forEach(function (p) {
      var item = spec.paths[p];
      Object.keys(item).forEach(function (key) {
        if (key === 'servers') item.servers = here(item.servers);
        else if (item[key] && item[key].servers) item[key].servers = here(item[key].servers);
      });
    });
    return spec;
  }
  var url = new URL('openapi.json', location.href).href;
  fetch(url, { headers: { Accept: 'application/json' } })
    .then(function (res) {
      if (!res.ok) throw new Error('GET ' + url + ' answered ' + res.status);
      return res.json();
    })
    .then(function (spec) {
      window.ui = SwaggerUIBundle({ spec: sameOrigin(spec), dom_id: '#docs', deepLinking: true, validatorUrl: null });
      window.ui.specActions.updateUrl(url); // the link under the title
    })
    .catch(function (err) {
      document.getElementById('docs').textContent = 'The API description did not load: ' + err.message;
    });
})();
`;
/** node:http's default, stated: more is a 431 before routing (src/http/refusals.ts). */
const MAX_HEADER_BYTES = 16 * 1024;
/** Probes and metrics also answer at the root, through the same pipeline as /api/v1. */
const ROOT_ALIASES = new Set(['/health/live', '/health/ready', '/metrics']);

export async function createApp(deps: AppDeps): Promise<App> {
  const { config } = deps;
  // The domain events and who reacts to them (src/domain/events/subscribers.ts; the worker wires the same map).
  domainEvents.wire(domainSubscribers);
  const track = requestTracker(deps.log, deps.metrics);
  const setResponseHeaders = responseHeaders(config.CORS_ORIGINS);
  const dispatch = createDispatcher(deps, handlers);
  const assets = docsAssets(deps);
  // TRUST_PROXY names the proxies that may set X-Forwarded-For (Express's "trust proxy" syntax).
  const trusted = proxyaddr.compile(config.TRUST_PROXY.split(',').map((s) => s.trim()));
  const body = { limit: config.BODY_LIMIT_BYTES, keepRaw: (req: ApiRequest) => req.path === `${API_ROOT}/webhooks/checkout` };

  // Every request: tracking, security and CORS headers; then the API pipeline (src/http/dispatch.ts),
  // or Swagger UI's files. Plain node:http: a framework's router and request decoration cost more
  // than everything else a GET /tasks does in this process (bench/fixes.md).
  const handle = async (req: http.IncomingMessage, res: http.ServerResponse, refusal?: AppError): Promise<void> => {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    let path = q < 0 ? url : url.slice(0, q);
    if (ROOT_ALIASES.has(path)) path = `${API_ROOT}${path}`;
    track(req, res, path);
    if (!setResponseHeaders(req, res)) return; // a preflight, answered
    if (refusal) return sendError(deps, res, refusal);
    if (path === DOCS_ASSETS || path.startsWith(`${DOCS_ASSETS}/`)) return void assets(req, res);
    const apiReq = Object.assign(req, { path, query: querystring.parse(q < 0 ? '' : url.slice(q + 1)), ip: proxyaddr(req, trusted) ?? '' }) as ApiRequest;
    try {
      if (path !== API_ROOT && !path.startsWith(`${API_ROOT}/`)) throw new AppError('NOT_FOUND', `No operation at ${req.method} ${path}`);
      await readJsonBody(apiReq, res, body);
      await dispatch(apiReq, res);
    } catch (err) {
      sendError(deps, res, err);
    }
  };

  // Slow or stalled clients are cut off instead of holding sockets forever: headers must arrive
  // within HTTP_HEADERS_TIMEOUT_MS, the whole request within HTTP_REQUEST_TIMEOUT_MS. Node checks
  // these every connectionsCheckingInterval (30 s by default, which would let a slowloris hold a
  // socket up to 30 s longer than the timeout): a quarter of the shorter timeout instead.
  const server = http.createServer(
    {
      // All headers together; the contract's bound on single headers (Cko-Signature) is this.
      maxHeaderSize: MAX_HEADER_BYTES,
      headersTimeout: config.HTTP_HEADERS_TIMEOUT_MS,
      requestTimeout: config.HTTP_REQUEST_TIMEOUT_MS,
      connectionsCheckingInterval: Math.max(100, Math.floor(Math.min(config.HTTP_HEADERS_TIMEOUT_MS, config.HTTP_REQUEST_TIMEOUT_MS) / 4)),
    },
    (req, res) => void handle(req, res),
  );
  server.keepAliveTimeout = 5_000;
  // Refusals before routing, in the error envelope with the usual headers (Node's are bare text).
  server.on('clientError', answerClientError(deps.log));
  server.on('checkExpectation', (req: http.IncomingMessage, res: http.ServerResponse) =>
    void handle(req, res, new AppError('EXPECTATION_FAILED', 'Only "Expect: 100-continue" is supported')),
  );

  // WebSockets share the port: the voice relay on its path, a 404 for any other upgrade.
  const voice = createVoiceRelay(deps);
  server.on('upgrade', (req, socket, head) => {
    if (new URL(req.url ?? '/', 'http://upgrade').pathname === VOICE_PATH) return voice.handleUpgrade(req, socket, head);
    rejectUpgrade(socket, new AppError('NOT_FOUND', 'No WebSocket endpoint at this path'), randomUUID());
  });

  deps.liveKeys.listen(deps.pool);

  return {
    server,
    close: async () => {
      await deps.liveUpdates.close();
      await deps.liveKeys.close();
      await voice.close();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}
