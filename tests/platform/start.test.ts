import { execFile, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../db/embedded.js';
import { PROJECT_ROOT } from '../../src/project-root.js';

// `npm start` itself, as a new user runs it: in a folder of its own holding a `.env` copied from
// `.env.example` (never the repository's), on the embedded PostgreSQL in a temporary DATA_DIR.
// Each run is started as its own process group, so whatever a failed test leaves (the API, the
// worker, PostgreSQL) is stopped by that group's id in afterAll.

const STOP_WITHIN_MS = 10_000;
let home: string;
const groups = new Set<number>();

interface Run {
  pid: number;
  child: ChildProcess;
  output: string[];
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  spawnedAt: number;
  /** When the banner was read, its "up in N s" and the base URL it printed. */
  bannerAt: number;
  upSeconds: number;
  baseUrl: string;
}

/** `npm start`'s command line from package.json, with its paths made absolute so it runs from `home`. */
function npmStartCommand(): string {
  const pkg = JSON.parse(fs.readFileSync(path.join(PROJECT_ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
  return pkg.scripts.start!.replace(/(^|\s)(scripts|dist)\//g, `$1${PROJECT_ROOT}/$2/`);
}

async function launch(how: 'npm start' | 'compiled'): Promise<Run> {
  const env = {
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? os.tmpdir(),
    PORT: String(await freePort()),
    DATA_DIR: path.join(home, 'data'),
    EMBEDDED_PG_PORT: String(await freePort()),
    LOG_LEVEL: 'warn',
  };
  const [cmd, args] = how === 'npm start' ? ['sh', ['-c', npmStartCommand()]] : [process.execPath, [path.join(PROJECT_ROOT, 'dist/scripts/start.js')]];
  const spawnedAt = Date.now();
  const child = spawn(cmd as string, args as string[], { cwd: home, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  groups.add(child.pid!);
  const output: string[] = [];
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  return new Promise<Run>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no banner within 120 s:\n${output.join('')}`)), 120_000);
    const read = (chunk: Buffer) => {
      output.push(chunk.toString('utf8'));
      const m = /is up in ([\d.]+)s: (http:\/\/\S+)\/api\/v1/.exec(output.join(''));
      if (m) {
        clearTimeout(timer);
        resolve({ pid: child.pid!, child, output, exited, spawnedAt, bannerAt: Date.now(), upSeconds: Number(m[1]), baseUrl: m[2]! });
      }
    };
    child.stdout!.on('data', read);
    child.stderr!.on('data', read);
    void exited.then(({ code, signal }) => reject(new Error(`npm start exited (code ${code}, signal ${signal}) before its banner:\n${output.join('')}`)));
  });
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return !fs.readFileSync(`/proc/${pid}/stat`, 'utf8').match(/\) Z /); // a zombie has exited
  } catch {
    return false;
  }
};
/** The processes whose parent is `pid`, with their command lines. */
function childrenOf(pid: number): { pid: number; cmdline: string }[] {
  const out: { pid: number; cmdline: string }[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) out.push({ pid: Number(entry), cmdline: fs.readFileSync(`/proc/${entry}/cmdline`, 'utf8').replace(/\0/g, ' ') });
    } catch {
      // gone meanwhile
    }
  }
  return out;
}
/** The start process itself (under `sh -c` it may be the shell's child) and its API and worker. */
function processesOf(run: Run) {
  const program = fs.readFileSync(`/proc/${run.pid}/cmdline`, 'utf8').split('\0')[0]!;
  const start = path.basename(program) === path.basename(process.execPath) ? run.pid : childrenOf(run.pid).find((c) => /start\.m?js/.test(c.cmdline))!.pid;
  const kids = childrenOf(start);
  const api = kids.find((c) => /src\/main\.js/.test(c.cmdline))!.pid;
  const worker = kids.find((c) => /jobs\/worker\.js/.test(c.cmdline))!.pid;
  const postgres = Number(fs.readFileSync(path.join(home, 'data/pg/postmaster.pid'), 'utf8').split('\n')[0]);
  return { start, api, worker, postgres };
}

async function expectAllStopped(run: Run, pids: number[]): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  const result = await Promise.race([run.exited, new Promise<null>((r) => setTimeout(() => r(null), STOP_WITHIN_MS))]);
  expect(result, `npm start still running ${STOP_WITHIN_MS} ms later:\n${run.output.join('')}`).not.toBeNull();
  await expect.poll(() => pids.filter(alive), { timeout: 2000, interval: 100 }).toEqual([]);
  return result!;
}

beforeAll(async () => {
  home = fs.mkdtempSync(path.join(os.tmpdir(), 'perpetua-npm-start-'));
  fs.copyFileSync(path.join(PROJECT_ROOT, '.env.example'), path.join(home, '.env'));
  await promisify(execFile)(process.execPath, ['scripts/build.mjs'], { cwd: PROJECT_ROOT });
}, 120_000);

/** Stops whatever a run left (a failed test): PostgreSQL first (immediate shutdown), then each group we started. */
async function cleanUp(): Promise<void> {
  try {
    const postgres = Number(fs.readFileSync(path.join(home, 'data/pg/postmaster.pid'), 'utf8').split('\n')[0]);
    if (postgres && alive(postgres)) {
      process.kill(postgres, 'SIGQUIT');
      for (let i = 0; i < 100 && alive(postgres); i++) await new Promise((r) => setTimeout(r, 100));
    }
  } catch {
    // not running
  }
  for (const pgid of groups) {
    try {
      process.kill(-pgid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  groups.clear();
  await new Promise((r) => setTimeout(r, 300));
}
afterEach(cleanUp);
afterAll(async () => {
  await cleanUp();
  fs.rmSync(home, { recursive: true, force: true });
});

describe('npm start', () => {
  it('with .env.example copied to .env: the development sign-in of the README works, and SIGTERM stops everything', async () => {
    const run = await launch('compiled');
    expect(run.output.join('')).toContain('Sign in without Google (AUTH_DEV_LOGIN)');
    // the README's curl
    const login = await fetch(`${run.baseUrl}/api/v1/auth/dev/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email: 'you@example.com' }) });
    expect(login.status).toBe(200);
    const { access_token } = (await login.json()) as { access_token: string };
    expect((await fetch(`${run.baseUrl}/api/v1/users/me`, { headers: { authorization: `Bearer ${access_token}` } })).status).toBe(200);

    const p = processesOf(run);
    process.kill(p.start, 'SIGTERM');
    const result = await expectAllStopped(run, Object.values(p));
    expect(result.code).toBe(0);
  }, 180_000);

  it.each(['api', 'worker'] as const)('stops the other child and PostgreSQL and exits non-zero when the %s is killed with SIGKILL', async (victim) => {
    const run = await launch('compiled');
    const p = processesOf(run);
    process.kill(p[victim], 'SIGKILL');
    const result = await expectAllStopped(run, Object.values(p));
    expect(result.code).not.toBe(0);
    expect(result.code).not.toBeNull();
  }, 180_000);

  it("prints in its banner the seconds since the command started, the build included", async () => {
    const run = await launch('npm start');
    const elapsed = run.bannerAt - run.spawnedAt;
    // all but the start of node itself (and reading the banner)
    expect(run.upSeconds * 1000 + 700).toBeGreaterThanOrEqual(elapsed);
    expect(run.upSeconds * 1000).toBeLessThanOrEqual(elapsed + 100);
    const p = processesOf(run);
    process.kill(p.start, 'SIGINT');
    await expectAllStopped(run, Object.values(p));
  }, 180_000);
});
