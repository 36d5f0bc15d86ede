import { describe, expect, it } from 'vitest';
import { KeyedCombiner } from '../../src/core/combiner.js';

// The combiner behind the AI reservations (src/domain/ai/charge.ts): what it promises its callers.

function recorder(opts: { maxBatch: number; fail?: (items: number[]) => Error | undefined }) {
  const batches: { key: string; items: number[] }[] = [];
  let release: () => void = () => {};
  let gate = Promise.resolve();
  const combiner = new KeyedCombiner<number, string>({
    maxBatch: opts.maxBatch,
    run: async (key, items) => {
      batches.push({ key, items });
      await gate;
      const failed = opts.fail?.(items);
      if (failed) throw failed;
      return items.map((n) => (n < 0 ? new Error(`refused ${n}`) : `${key}:${n}`));
    },
  });
  return {
    combiner,
    batches,
    hold: () => {
      gate = new Promise((r) => (release = r));
    },
    release: () => release(),
  };
}

describe('KeyedCombiner', () => {
  it('runs the first item alone at once, then everything that queued meanwhile together, in arrival order', async () => {
    const r = recorder({ maxBatch: 100 });
    r.hold();
    const first = r.combiner.submit('u1', 1);
    const rest = [2, 3, 4].map((n) => r.combiner.submit('u1', n));
    r.release();
    expect(await first).toBe('u1:1');
    r.hold();
    r.release();
    expect(await Promise.all(rest)).toEqual(['u1:2', 'u1:3', 'u1:4']);
    expect(r.batches).toEqual([{ key: 'u1', items: [1] }, { key: 'u1', items: [2, 3, 4] }]);
  });

  it('keeps keys apart and never runs two batches of one key at once', async () => {
    const r = recorder({ maxBatch: 100 });
    r.hold();
    const a = r.combiner.submit('a', 1);
    const b = r.combiner.submit('b', 1);
    const a2 = r.combiner.submit('a', 2);
    expect(r.batches.map((x) => x.key)).toEqual(['a', 'b']);
    r.release();
    expect(await Promise.all([a, b, a2])).toEqual(['a:1', 'b:1', 'a:2']);
    expect(r.batches).toEqual([{ key: 'a', items: [1] }, { key: 'b', items: [1] }, { key: 'a', items: [2] }]);
  });

  it('splits what queued into batches of at most maxBatch', async () => {
    const r = recorder({ maxBatch: 2 });
    r.hold();
    const all = [1, 2, 3, 4, 5, 6].map((n) => r.combiner.submit('k', n));
    r.release();
    await Promise.all(all);
    expect(r.batches.map((x) => x.items)).toEqual([[1], [2, 3], [4, 5], [6]]);
  });

  it('rejects one item with its own error and the whole batch with what run threw; the next batch still runs', async () => {
    const r = recorder({ maxBatch: 100, fail: (items) => (items.includes(99) ? new Error('database gone') : undefined) });
    r.hold();
    const first = r.combiner.submit('k', 1);
    const refused = r.combiner.submit('k', -1);
    const doomed = r.combiner.submit('k', 99);
    r.release();
    expect(await first).toBe('k:1');
    await expect(refused).rejects.toThrow('database gone');
    await expect(doomed).rejects.toThrow('database gone');
    expect(await r.combiner.submit('k', -2).catch((e: Error) => e.message)).toBe('refused -2');
    expect(await r.combiner.submit('k', 3)).toBe('k:3');
  });
});
