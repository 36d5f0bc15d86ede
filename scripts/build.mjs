// `npm run build`: compiles the service's TypeScript (src, db, jobs, scripts) into dist/, file by
// file with the same layout, so `npm start` runs plain JavaScript: starting under tsx spent most of
// its time in the loader's hooks (bench: cold start). Also writes dist/openapi.json, the parsed
// contract with the hash of the openapi.yaml it came from, so a process need not parse the YAML.
// Plain JavaScript itself, so it runs without tsx; takes well under a second.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildSync } from 'esbuild';
import { parse } from 'yaml';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const out = path.join(root, 'dist');

const sources = (dir) =>
  fs.readdirSync(path.join(root, dir), { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && e.name.endsWith('.ts') && !e.name.endsWith('.d.ts'))
    .map((e) => path.join(e.parentPath ?? e.path, e.name));

fs.rmSync(out, { recursive: true, force: true });
buildSync({
  entryPoints: ['src', 'db', 'jobs', 'scripts'].flatMap(sources),
  outdir: out,
  outbase: root,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  // stack traces name the TypeScript lines with NODE_OPTIONS=--enable-source-maps (off: it slows start-up)
  sourcemap: 'linked',
  logLevel: 'warning',
});
const yaml = fs.readFileSync(path.join(root, 'openapi.yaml'), 'utf8');
const sha256 = createHash('sha256').update(yaml).digest('hex');
fs.writeFileSync(path.join(out, 'openapi.json'), JSON.stringify({ sha256, document: parse(yaml) }));
