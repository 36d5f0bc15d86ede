import { builtinModules } from 'node:module';
import path from 'node:path';
import { build } from 'esbuild';
import { describe, expect, it } from 'vitest';

// client/ is what the frontend imports: it must bundle for a browser, without Node's modules
// (node:crypto and the like). esbuild for platform 'browser' does not resolve them, so a build
// error or a Node builtin among the bundle's imports means the client only runs on Node.

const root = path.resolve(import.meta.dirname, '../..');
const builtins = new Set([...builtinModules, ...builtinModules.map((m) => `node:${m}`)]);

describe('client/ in a browser', () => {
  it('bundles for platform browser without importing a Node builtin', async () => {
    const result = await build({
      entryPoints: [path.join(root, 'client/index.ts')],
      bundle: true,
      platform: 'browser',
      format: 'esm',
      write: false,
      metafile: true,
      logLevel: 'silent',
    }).catch((err: { errors?: { text: string }[] }) => ({ failed: (err.errors ?? []).map((e) => e.text) }));
    expect('failed' in result ? result.failed : []).toEqual([]);
    if ('failed' in result) return;
    const imported = Object.values(result.metafile.inputs).flatMap((input) => input.imports.map((i) => i.path));
    expect(imported.filter((p) => builtins.has(p) || p.startsWith('node:'))).toEqual([]);
  });
});
