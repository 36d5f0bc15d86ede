import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { testKeyPair } from './app.js';

// The API and the worker as real child processes (`node --import tsx src/main.ts` / `jobs/worker.ts`,
// or compiled: `node dist/src/main.js`),
// the way they run in production, for tests of several instances and of crashes. Each one is
// stopped by its pid; `stopAllServices()` in afterAll kills whatever a failed test left running.

export interface Service {
  kind: 'api' | 'worker';
  pid: number;
  /** `http://127.0.0.1:<port>` (API only). */
  baseUrl: string;
  /** graphile-worker's pool id, the `locked_by` of its jobs (worker only). */
  workerId: string;
  /** The process's log lines (JSON), newest last. */
  logs: string[];
  /** Resolves when the process has exited. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Sends the signal to the pid and waits for the exit. */
  kill(signal?: NodeJS.Signals): Promise<void>;
}

const running = new Map<number, ChildProcess>();
const root = path.resolve(import.meta.dirname, '../..');
const ENTRY = { api: 'src/main.ts', worker: 'jobs/worker.ts' } as const;

/** The environment of a service on `databaseUrl`, as the tests configure it (override with `env`). */
export function serviceEnv(databaseUrl: string, env: Record<string, string> = {}): Record<string, string> {
  const keys = testKeyPair();
  return {
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? os.tmpdir(),
    NODE_ENV: 'test',
    HOST: '127.0.0.1',
    PORT: '0',
    LOG_LEVEL: 'info',
    DATABASE_URL: databaseUrl,
    DATA_DIR: path.join(os.tmpdir(), 'perpetua-test-data'),
    JWT_PRIVATE_KEY: keys.privatePem,
    JWT_PUBLIC_KEY: keys.publicPem,
    AUTH_DEV_LOGIN: 'true',
    RATE_LIMIT_STORE: 'postgres',
    RATE_LIMIT_AUTH: '100000',
    RATE_LIMIT_GENERAL: '100000',
    RATE_LIMIT_AI: '100000',
    RATE_LIMIT_WEBHOOK: '100000',
    RATE_LIMIT_CALENDAR_FEED: '100000',
    WORKER_POLL_INTERVAL_MS: '100',
    WORKER_HEARTBEAT_SECONDS: '1',
    ...env,
  };
}

/**
 * Starts the API or the worker and resolves once it is serving: the API's "listening" line (its port
 * comes from there, PORT=0) or the worker's "worker started" line.
 */
export function startService(kind: 'api' | 'worker', env: Record<string, string>, opts: { timeoutMs?: number; compiled?: boolean } = {}): Promise<Service> {
  // compiled: the JavaScript `npm run build` leaves in dist/, as `npm start` runs it
  const args = opts.compiled ? [path.join('dist', ENTRY[kind].replace(/\.ts$/, '.js'))] : ['--import', 'tsx', ENTRY[kind]];
  const child = spawn(process.execPath, args, { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
  const pid = child.pid!;
  running.set(pid, child);
  const logs: string[] = [];
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => {
      running.delete(pid);
      resolve({ code, signal });
    });
  });
  const service: Service = {
    kind,
    pid,
    baseUrl: '',
    workerId: '',
    logs,
    exited,
    async kill(signal = 'SIGKILL') {
      if (running.has(pid)) process.kill(pid, signal);
      await exited;
    },
  };
  return new Promise<Service>((resolve, reject) => {
    let started = false;
    const timer = setTimeout(() => fail(new Error(`${kind} did not start within ${opts.timeoutMs ?? 90_000} ms`)), opts.timeoutMs ?? 90_000);
    const ready = () => {
      started = true;
      clearTimeout(timer);
      resolve(service);
    };
    const fail = (err: Error) => {
      if (started) return;
      started = true;
      clearTimeout(timer);
      if (running.has(pid)) process.kill(pid, 'SIGKILL');
      reject(new Error(`${err.message}\n${logs.slice(-20).join('\n')}`));
    };
    let pending = '';
    const onLine = (line: string) => {
      logs.push(line);
      if (logs.length > 2000) logs.splice(0, logs.length - 2000);
      let entry: { msg?: string; port?: number; workerId?: string };
      try {
        entry = JSON.parse(line);
      } catch {
        return;
      }
      if (kind === 'api' && entry.msg?.startsWith('API listening') && entry.port) {
        service.baseUrl = `http://127.0.0.1:${entry.port}`;
        ready();
      }
      if (kind === 'worker' && entry.msg === 'worker started' && entry.workerId) {
        service.workerId = entry.workerId;
        ready();
      }
    };
    const read = (chunk: Buffer) => {
      pending += chunk.toString('utf8');
      const lines = pending.split('\n');
      pending = lines.pop()!;
      for (const line of lines) if (line.trim()) onLine(line);
    };
    child.stdout!.on('data', read);
    child.stderr!.on('data', read);
    void exited.then(({ code, signal }) => fail(new Error(`${kind} exited while starting (code ${code}, signal ${signal})`)));
  });
}

/** Kills (SIGKILL, by pid) every service still running; for afterAll, so a failed test leaves none behind. */
export async function stopAllServices(): Promise<void> {
  const waits = [...running.entries()].map(
    ([pid, child]) =>
      new Promise<void>((resolve) => {
        child.once('exit', () => resolve());
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          resolve();
        }
      }),
  );
  await Promise.all(waits);
}

/** A port on 127.0.0.1 nothing listens on right now (the kernel's pick), for a process that needs one before it starts. */
export const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const probe = net.createServer().once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as net.AddressInfo;
      probe.close(() => resolve(port));
    });
  });
