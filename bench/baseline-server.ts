import http from 'node:http';
import { Kysely, PostgresDialect, type CompiledQuery } from 'kysely';
import pg from 'pg';
import type { DB } from '../db/schema/index.js';
import { listTasks } from '../src/domain/tasks/list-tasks.js';

// The physical limit GET /tasks is compared with: node:http and pg, nothing else on the request path.
// It runs exactly the SQL the service runs for GET /tasks (the page, then the count when the page is
// full) as named prepared statements on a pool of the same size, and writes the rows as JSON.
// No framework, no signature check (the user id is read from the token's payload), no rate limit,
// no validation, no logging: everything the service does beyond this is what the ratio prices.
//   BASELINE_DATABASE_URL, BASELINE_POOL_MAX, BASELINE_SAMPLE_USER (a user with a full page of tasks)
// It prints `baseline listening on <port>` when ready.

const url = process.env.BASELINE_DATABASE_URL;
const sampleUser = process.env.BASELINE_SAMPLE_USER;
if (!url || !sampleUser) throw new Error('BASELINE_DATABASE_URL and BASELINE_SAMPLE_USER are required');
const pool = new pg.Pool({ connectionString: url, max: Number(process.env.BASELINE_POOL_MAX ?? 10), application_name: 'bench-baseline' });

/** The statements listTasks issues for a user whose first page is full, captured from Kysely's log. */
async function captureListSql(): Promise<CompiledQuery[]> {
  const captured: CompiledQuery[] = [];
  const db = new Kysely<DB>({
    dialect: new PostgresDialect({ pool }),
    log: (event) => {
      if (event.level === 'query') captured.push(event.query);
    },
  });
  await listTasks(db, { userId: sampleUser!, filter: {}, page: { offset: 0, limit: 25 } });
  return captured;
}

const statements = (await captureListSql()).map((q, i) => ({
  name: `baseline_list_${i}`,
  text: q.sql,
  // The sample user's id is the parameter that varies per request; the rest stay as captured.
  params: q.parameters.map((p) => (p === sampleUser ? undefined : p)),
}));
if (statements.length !== 2) throw new Error(`expected a page and a count query, captured ${statements.length}`);
const [page, count] = statements as [(typeof statements)[0], (typeof statements)[0]];

const userOf = (authorization: string | undefined): string | undefined => {
  const token = authorization?.startsWith('Bearer ') ? authorization.slice(7) : undefined;
  const payload = token?.split('.')[1];
  if (!payload) return undefined;
  try {
    return (JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as { sub?: string }).sub;
  } catch {
    return undefined;
  }
};

const bind = (s: typeof page, userId: string) => ({ name: s.name, text: s.text, values: s.params.map((p) => (p === undefined ? userId : p)) });

const server = http.createServer(async (req, res) => {
  const userId = userOf(req.headers.authorization);
  if (req.method !== 'GET' || !req.url?.startsWith('/api/v1/tasks') || !userId) {
    res.writeHead(404).end();
    return;
  }
  try {
    const rows = (await pool.query(bind(page, userId))).rows;
    const total = rows.length < 25 ? rows.length : Number((await pool.query(bind(count, userId))).rows[0].n);
    const body = JSON.stringify({ data: rows, pagination: { offset: 0, limit: 25, total, has_more: total > 25 } });
    res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body) }).end(body);
  } catch (err) {
    res.writeHead(500).end(String(err));
  }
});
server.keepAliveTimeout = 5_000;
server.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => {
  const address = server.address();
  console.log(`baseline listening on ${typeof address === 'object' && address ? address.port : '?'}`);
});
const shutdown = () => server.close(() => void pool.end().then(() => process.exit(0)));
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
