import { describe, expect, it } from 'vitest';
import { toPage } from '../../src/core/pagination.js';

describe('toPage', () => {
  const id = (n: number) => n;
  const counted = (total: number) => {
    const calls = { n: 0 };
    return { calls, count: async () => (calls.n++, total) };
  };

  it('takes the total from a short first page without counting', async () => {
    const c = counted(999);
    expect(await toPage([1, 2, 3], { offset: 0, limit: 25 }, { present: id, countAll: c.count })).toEqual({ data: [1, 2, 3], pagination: { offset: 0, limit: 25, total: 3, has_more: false } });
    expect((await toPage([], { offset: 0, limit: 25 }, { present: id, countAll: c.count })).pagination.total).toBe(0);
    expect(c.calls.n).toBe(0);
  });

  it('takes the total from a short later page without counting', async () => {
    const c = counted(999);
    expect((await toPage([1, 2], { offset: 50, limit: 25 }, { present: id, countAll: c.count })).pagination).toEqual({ offset: 50, limit: 25, total: 52, has_more: false });
    expect(c.calls.n).toBe(0);
  });

  it('counts when the page is full or past the end', async () => {
    const c = counted(60);
    expect((await toPage(Array.from({ length: 25 }, (_, i) => i), { offset: 0, limit: 25 }, { present: id, countAll: c.count })).pagination).toEqual({ offset: 0, limit: 25, total: 60, has_more: true });
    expect((await toPage([], { offset: 100, limit: 25 }, { present: id, countAll: c.count })).pagination).toEqual({ offset: 100, limit: 25, total: 60, has_more: false });
    expect(c.calls.n).toBe(2);
  });
});
