import fs from 'node:fs';
import path from 'node:path';

// Reads a V8 .cpuprofile (node --cpu-prof) and tells where the time went: self time by function and
// by package (node_modules/<name>, our own code by top folder, node: internals).

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}
interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

export interface ProfileSummary {
  file: string;
  totalMs: number;
  /** Share of samples that were idle (the event loop waiting). */
  idlePct: number;
  byPackage: { name: string; pct: number }[];
  byFunction: { name: string; where: string; pct: number }[];
}

function packageOf(url: string, root: string): string {
  if (!url) return '(native/V8)';
  if (url.startsWith('node:')) return 'node: internals';
  const p = url.replace(/^file:\/\//, '');
  const nm = p.lastIndexOf('node_modules/');
  if (nm >= 0) {
    const rest = p.slice(nm + 'node_modules/'.length).split('/');
    return rest[0]!.startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]!;
  }
  const rel = path.relative(root, p);
  if (rel.startsWith('..')) return p;
  const parts = rel.split(path.sep);
  return parts.length > 2 ? `${parts[0]}/${parts[1]}` : parts[0]!;
}

/** Monotonic microseconds (the clock of V8's profile timestamps), for windows passed to summarizeProfile. */
export const monotonicUs = () => Number(process.hrtime.bigint() / 1000n);

/**
 * Self time by function and package. With `windows` ([from, to] in monotonicUs of any process on
 * this machine), only the samples inside them count: the load, not start-up and module loading.
 */
export function summarizeProfile(file: string, root: string, top = 25, windows?: [number, number][]): ProfileSummary {
  const prof = JSON.parse(fs.readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(prof.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  let t = prof.startTime;
  for (let i = 0; i < prof.samples.length; i++) {
    const id = prof.samples[i]!;
    const dt = prof.timeDeltas[i] ?? 0;
    t += dt;
    if (windows && !windows.some(([from, to]) => t >= from && t <= to)) continue;
    self.set(id, (self.get(id) ?? 0) + dt);
  }
  let total = 0;
  let idle = 0;
  const pkg = new Map<string, number>();
  const fn = new Map<string, { where: string; us: number }>();
  for (const [id, us] of self) {
    const node = byId.get(id)!;
    total += us;
    const name = node.callFrame.functionName || '(anonymous)';
    if (name === '(idle)' || name === '(program)' || name === '(garbage collector)') {
      if (name === '(idle)') idle += us;
      const key = name;
      pkg.set(key, (pkg.get(key) ?? 0) + us);
      continue;
    }
    const p = packageOf(node.callFrame.url, root);
    pkg.set(p, (pkg.get(p) ?? 0) + us);
    const where = `${path.basename(node.callFrame.url) || p}:${node.callFrame.lineNumber + 1}`;
    const key = `${name}@${where}`;
    const f = fn.get(key) ?? { where: `${p} ${where}`, us: 0 };
    f.us += us;
    fn.set(key, f);
  }
  const busy = total - idle;
  const pct = (us: number) => Math.round((us / busy) * 1000) / 10;
  return {
    file,
    totalMs: Math.round(total / 1000),
    idlePct: Math.round((idle / total) * 1000) / 10,
    byPackage: [...pkg.entries()]
      .filter(([k]) => k !== '(idle)')
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([name, us]) => ({ name, pct: pct(us) })),
    byFunction: [...fn.entries()]
      .sort((a, b) => b[1].us - a[1].us)
      .slice(0, top)
      .map(([k, f]) => ({ name: k.split('@')[0]!, where: f.where, pct: pct(f.us) })),
  };
}

/** A markdown section for the report: busy time by package and the hottest functions (% of non-idle samples). */
export function profileMarkdown(s: ProfileSummary, title: string): string {
  const lines = [`#### ${title}`, '', `${path.basename(s.file)}: ${s.totalMs} ms sampled, ${s.idlePct} % idle. Shares below are of the busy (non-idle) time.`, ''];
  lines.push('| package / area | self time |', '| --- | --- |');
  for (const p of s.byPackage.slice(0, 15)) lines.push(`| ${p.name} | ${p.pct} % |`);
  lines.push('', '| function | where | self time |', '| --- | --- | --- |');
  for (const f of s.byFunction.slice(0, 20)) lines.push(`| \`${f.name}\` | ${f.where} | ${f.pct} % |`);
  return lines.join('\n');
}

/** Main-thread profiles in `dir`, newest first (tsx's loader thread writes one of its own: `.<pid>.1.`). */
export function profilesIn(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir)
    .filter((f) => /\.\d+\.0\.\d+\.cpuprofile$/.test(f))
    .map((f) => path.join(dir, f))
    .sort((a, b) => fs.statSync(b).mtimeMs - fs.statSync(a).mtimeMs);
}
