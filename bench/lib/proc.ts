import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { buildSync } from 'esbuild';

// Every process the benchmark starts is registered here and stopped by its PID (SIGTERM, then
// SIGKILL) in run.ts's finally, so a failed or interrupted run leaves nothing behind.

export interface Child {
  name: string;
  proc: ChildProcess;
  pid: number;
  /** Where its stdout and stderr go. */
  logFile: string;
  /** Resolves with the exit code (or signal) once it has exited. */
  exited: Promise<number | string>;
  /** Lines of stdout seen so far (for processes that announce something). */
  lines: string[];
}

const children = new Set<Child>();

export interface StartOptions {
  env: NodeJS.ProcessEnv;
  cwd: string;
  logDir: string;
  /** Node flags before `--import tsx` (e.g. --cpu-prof). */
  nodeFlags?: string[];
  args?: string[];
  /** Its own process group, so that a signal reaches its children too (npm start). */
  group?: boolean;
}

/** `node [flags] --import tsx <entry>` as a child; its output goes to a log file in logDir. */
export function startNode(name: string, entry: string, opts: StartOptions): Child {
  return startCommand(name, process.execPath, [...(opts.nodeFlags ?? []), '--import', 'tsx', entry, ...(opts.args ?? [])], opts);
}

const built = new Set<string>();

/**
 * A process of the service as production runs it: the JavaScript `npm run build` compiles into
 * dist/ (built once per benchmark run), so figures of memory and start-up are not tsx's.
 */
export function startService(name: string, root: string, entry: 'src/main' | 'jobs/worker', opts: StartOptions): Child {
  if (!built.has(root)) {
    execFileSync(process.execPath, [path.join(root, 'scripts/build.mjs')], { cwd: root, stdio: 'inherit' });
    built.add(root);
  }
  return startCommand(name, process.execPath, [...(opts.nodeFlags ?? []), path.join(root, 'dist', `${entry}.js`), ...(opts.args ?? [])], opts);
}

/**
 * A bench server compiled like the service (esbuild, plain JavaScript, no tsx at run time), so that
 * a comparison with our compiled API does not charge the other side for the loader: its TypeScript
 * is bundled into bench/.build/<name>.mjs, packages left to node_modules.
 */
export function startBundled(name: string, root: string, entry: string, opts: StartOptions): Child {
  const outfile = path.join(root, 'bench', '.build', `${name}.mjs`);
  buildSync({ entryPoints: [path.join(root, entry)], outfile, bundle: true, packages: 'external', platform: 'node', format: 'esm', target: 'node20', logLevel: 'warning' });
  return startCommand(name, process.execPath, [...(opts.nodeFlags ?? []), outfile, ...(opts.args ?? [])], opts);
}

export function startCommand(name: string, command: string, args: string[], opts: StartOptions): Child {
  fs.mkdirSync(opts.logDir, { recursive: true });
  const logFile = path.join(opts.logDir, `${name}.log`);
  const out = fs.createWriteStream(logFile, { flags: 'a' });
  const proc = spawn(command, args, { cwd: opts.cwd, env: opts.env, stdio: ['ignore', 'pipe', 'pipe'], detached: opts.group ?? false });
  if (proc.pid === undefined) throw new Error(`could not start ${name}`);
  const lines: string[] = [];
  let partial = '';
  proc.stdout!.on('data', (chunk: Buffer) => {
    out.write(chunk);
    partial += chunk.toString('utf8');
    const parts = partial.split('\n');
    partial = parts.pop() ?? '';
    lines.push(...parts);
  });
  proc.stderr!.on('data', (chunk: Buffer) => out.write(chunk));
  const exited = new Promise<number | string>((resolve) => {
    proc.on('exit', (code, signal) => {
      out.end();
      resolve(code ?? signal ?? 'unknown');
    });
  });
  const child: Child = { name, proc, pid: proc.pid, logFile, exited, lines };
  children.add(child);
  void exited.then(() => children.delete(child));
  return child;
}

const isAlive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/** SIGTERM by PID (the group's, for a group leader), SIGKILL after `graceMs`; resolves once it has exited. */
export async function stop(child: Child, graceMs = 10_000): Promise<void> {
  if (child.proc.exitCode !== null || child.proc.signalCode !== null) return;
  const target = isGroupLeader(child) ? -child.pid : child.pid;
  const send = (sig: NodeJS.Signals) => {
    try {
      process.kill(target, sig);
    } catch {
      // already gone
    }
  };
  send('SIGTERM');
  const timer = setTimeout(() => send('SIGKILL'), graceMs);
  await child.exited;
  clearTimeout(timer);
  // A group leader's children may outlive it for a moment.
  if (target < 0) {
    const deadline = Date.now() + graceMs;
    while (groupAlive(child.pid) && Date.now() < deadline) await sleep(100);
    if (groupAlive(child.pid)) send('SIGKILL');
  }
}

const groupLeaders = new WeakSet<Child>();
const isGroupLeader = (c: Child) => groupLeaders.has(c);
export function markGroup(child: Child): Child {
  groupLeaders.add(child);
  return child;
}
function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Stops every child still running, newest first. */
export async function stopAll(): Promise<void> {
  for (const child of [...children].reverse()) await stop(child).catch(() => {});
}

export { isAlive };

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Waits for a line on the child's stdout matching `re`; fails when it exits first or after timeoutMs. */
export async function waitForLine(child: Child, re: RegExp, timeoutMs: number): Promise<RegExpMatchArray> {
  const deadline = Date.now() + timeoutMs;
  let exited = false;
  void child.exited.then(() => (exited = true));
  for (;;) {
    for (const l of child.lines) {
      const m = re.exec(l);
      if (m) return m;
    }
    if (exited) throw new Error(`${child.name} exited before announcing itself; see ${child.logFile}`);
    if (Date.now() > deadline) throw new Error(`${child.name} did not announce itself within ${timeoutMs} ms; see ${child.logFile}`);
    await sleep(25);
  }
}

/** Polls `url` until it answers `status` (200 by default); returns the time it took. */
export async function waitForHttp(url: string, timeoutMs: number, opts: { child?: Child; status?: number; intervalMs?: number } = {}): Promise<number> {
  const started = Date.now();
  let exited = false;
  if (opts.child) void opts.child.exited.then(() => (exited = true));
  for (;;) {
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(2_000) });
      await res.arrayBuffer();
      if (res.status === (opts.status ?? 200)) return Date.now() - started;
    } catch {
      // not listening yet
    }
    if (exited) throw new Error(`${opts.child!.name} exited before ${url} answered; see ${opts.child!.logFile}`);
    if (Date.now() - started > timeoutMs) throw new Error(`${url} did not answer ${opts.status ?? 200} within ${timeoutMs} ms`);
    await sleep(opts.intervalMs ?? 50);
  }
}

/** Resident set size of a process in MB, from /proc (Linux). */
export function rssMb(pid: number): number | null {
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const m = /VmRSS:\s+(\d+) kB/.exec(status);
    return m ? Number(m[1]) / 1024 : null;
  } catch {
    return null;
  }
}

/** CPU seconds (user + system) a process used so far, from /proc/<pid>/stat. */
export function cpuSeconds(pid: number): number | null {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[11]) + Number(fields[12]);
    return ticks / 100;
  } catch {
    return null;
  }
}

/** The environment of the API or worker under measurement: production mode, the service's defaults unless a caller adds to it. */
export function productionServiceEnv(databaseUrl: string, keys: { privatePem: string; publicPem: string }, port: number): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    LANG: process.env.LANG ?? 'C.UTF-8',
    NODE_ENV: 'production',
    HOST: '127.0.0.1',
    PORT: String(port),
    PUBLIC_API_URL: `http://127.0.0.1:${port}/api/v1`,
    LOG_LEVEL: 'warn',
    DATABASE_URL: databaseUrl,
    JWT_PRIVATE_KEY: keys.privatePem,
    JWT_PUBLIC_KEY: keys.publicPem,
  };
}

/**
 * CPU seconds used so far by each PostgreSQL process on this machine (command name `postgres`:
 * backends and the background writers alike), by PID. Empty when the server runs elsewhere.
 */
export function postgresCpu(): Map<number, number> {
  const out = new Map<number, number>();
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (fs.readFileSync(`/proc/${entry}/comm`, 'utf8').trim() !== 'postgres') continue;
    } catch {
      continue; // gone meanwhile
    }
    const s = cpuSeconds(Number(entry));
    if (s !== null) out.set(Number(entry), s);
  }
  return out;
}

/** CPU seconds PostgreSQL used between two `postgresCpu()` snapshots (a process started in between counts from 0). */
export function postgresCpuSince(before: Map<number, number>, after = postgresCpu()): number {
  let sum = 0;
  for (const [pid, s] of after) sum += s - (before.get(pid) ?? 0);
  return sum;
}

/** Busy CPU seconds of the whole machine so far (all cores), from /proc/stat. */
export function machineCpu(): { busy: number } {
  const line = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  const idle = (line[3] ?? 0) + (line[4] ?? 0);
  const total = line.reduce((s, v) => s + v, 0);
  return { busy: (total - idle) / 100 };
}
