import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeReport, type BenchResults } from './lib/report.js';

// `npm run bench:render`: writes latest.md and latest.svg again from latest.json (kept
// by the last `npm run bench`, not committed), e.g. after editing bench/fixes.md, without measuring.

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dir = path.resolve(process.env.BENCH_OUT ?? path.join(root, 'bench/results'));
const { figures: _figures, ...results } = JSON.parse(fs.readFileSync(path.join(dir, 'latest.json'), 'utf8')) as BenchResults & { figures: unknown };
writeReport(dir, results as BenchResults, fs.readFileSync(path.join(root, 'bench/fixes.md'), 'utf8'));
console.log(`rewrote ${path.relative(root, path.join(dir, 'latest.md'))} from latest.json`);
