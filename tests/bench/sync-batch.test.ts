import { describe, expect, it } from 'vitest';
import { offlineSession } from '../../bench/lib/sync-batch.js';
import { TIER_LIMITS } from '../../src/domain/limits/effective-limits.js';

// The syncbatch phase's batch must be one POST /sync (at most 100 commands) that a free user can
// apply in full: a refused command would time a different batch than the REST baseline's writes.

describe('the benchmark\'s offline batch', () => {
  const ops = offlineSession();
  const count = (type: string) => ops.filter((o) => o.type === type).length;
  const perTarget = (type: string) => Math.max(...Object.values(ops.filter((o) => o.type === type).reduce<Record<string, number>>((m, o) => ({ ...m, [o.ref!]: (m[o.ref!] ?? 0) + 1 }), {})));

  it('is 100 commands, each ref naming an earlier command\'s temp_id, temp_ids unique', () => {
    expect(ops).toHaveLength(100);
    const seen = new Set<string>();
    for (const op of ops) {
      if (op.ref) expect(seen.has(op.ref), `${op.type} names ${op.ref} before it exists`).toBe(true);
      if (op.temp) {
        expect(seen.has(op.temp)).toBe(false);
        seen.add(op.temp);
      }
    }
  });

  it('stays inside a free user\'s limits, and reminders before a due date have one', () => {
    const free = TIER_LIMITS.free;
    expect(count('task_add')).toBeLessThanOrEqual(free.maxTasks);
    expect(count('note_add')).toBeLessThanOrEqual(free.maxNotes);
    expect(perTarget('subtask_add')).toBeLessThanOrEqual(free.maxSubtasksPerTask);
    expect(perTarget('reminder_add')).toBeLessThanOrEqual(free.maxRemindersPerTask);
    const due = new Set(ops.filter((o) => o.type === 'task_add' && o.args.due_date).map((o) => o.temp));
    for (const r of ops.filter((o) => o.type === 'reminder_add')) expect(due.has(r.ref)).toBe(true);
  });
});
