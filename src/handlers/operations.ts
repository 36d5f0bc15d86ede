import { checkMetricsToken } from '../http/metrics.js';
import type { Handler } from '../http/operation.js';
import { creditTotals } from '../domain/credits/totals.js';
import { queueStats } from '../domain/health/queue-stats.js';
import { readiness } from '../domain/health/readiness.js';

export const getApiIndex: Handler<'getApiIndex'> = async (_req, ctx) => {
  const base = ctx.deps.config.PUBLIC_API_URL;
  const { info } = ctx.deps.contract.document;
  return {
    status: 200,
    body: {
      name: String(info.title),
      version: String(info.version),
      links: {
        docs: `${base}/docs`,
        openapi_json: `${base}/openapi.json`,
        openapi_yaml: `${base}/openapi.yaml`,
        health_live: `${base}/health/live`,
        health_ready: `${base}/health/ready`,
      },
    },
  };
};

export const getLiveness: Handler<'getLiveness'> = async () => ({ status: 200, body: { status: 'ok' } });

export const getReadiness: Handler<'getReadiness'> = async (_req, ctx) => {
  const { report, problems } = await readiness(ctx.deps.db, ctx.deps.config.WORKER_HEARTBEAT_STALE_SECONDS);
  if (report.status === 'ok') return { status: 200, body: report };
  ctx.log.warn({ checks: problems }, 'not ready');
  return { status: 503, body: report };
};

export const getMetrics: Handler<'getMetrics'> = async (req, ctx) => {
  checkMetricsToken(req.headers.authorization, ctx.deps.config.METRICS_TOKEN);
  const { metrics, db } = ctx.deps;
  try {
    const rows = await queueStats(db);
    metrics.jobs.reset();
    metrics.jobFailures.reset();
    for (const r of rows) {
      metrics.jobs.set({ task: r.task }, Number(r.queued));
      metrics.jobFailures.set({ task: r.task }, Number(r.failed));
    }
    for (const c of await creditTotals(db)) {
      for (const movement of ['granted', 'consumed', 'expired'] as const) metrics.credits.set({ kind: c.kind, movement }, c[movement]);
    }
  } catch {
    // The gauges read from the database are best effort; the process metrics are still worth serving.
  }
  return { status: 200, body: await metrics.registry.metrics(), contentType: metrics.registry.contentType };
};

export const getOpenApiJson: Handler<'getOpenApiJson'> = async (_req, ctx) => ({ status: 200, body: ctx.deps.contract.json as never });

export const getOpenApiYaml: Handler<'getOpenApiYaml'> = async (_req, ctx) => ({
  status: 200,
  body: ctx.deps.contract.yaml,
  contentType: 'application/yaml; charset=utf-8',
});

const DOCS_PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Perpetua Flow API</title>
<link rel="stylesheet" href="docs/assets/swagger-ui.css">
<link rel="icon" type="image/png" href="docs/assets/favicon-32x32.png">
</head>
<body>
<div id="docs"></div>
<script src="docs/assets/swagger-ui-bundle.js"></script>
<script src="docs/assets/docs-init.js"></script>
</body>
</html>
`;

export const getApiDocs: Handler<'getApiDocs'> = async () => ({
  status: 200,
  body: DOCS_PAGE,
  contentType: 'text/html; charset=utf-8',
  headers: { 'Content-Security-Policy': "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'" },
});
