import { describe, expect, it } from 'vitest';
import type { Executor } from '../../db/index.js';
import { createEventBus, type EventSubscribers } from '../../src/domain/events/bus.js';

// A process that never wired its subscribers (src/app.ts, jobs/runner.ts) must not complete tasks
// while silently skipping achievements and streaks: raising an event on it fails the change.
// Test files share their worker's modules (vitest.config.ts: isolate false), so the process-wide
// bus may already be wired by an earlier file: the refusal is asserted on a bus nobody wired, the
// same implementation as `domainEvents`.

const actor = { userId: '00000000-0000-4000-8000-000000000001', source: 'user' as const, requestId: null };
const trx = {} as Executor; // never reached: the bus refuses before any handler runs

describe('the domain event bus', () => {
  it('refuses an event raised before the composition root wired the subscribers, naming the event', async () => {
    const { emit } = createEventBus();
    await expect(
      emit(trx, { type: 'task.completed', taskId: actor.userId, userId: actor.userId, completedBy: 'manual', completedAt: new Date(), estimatedDuration: null, focusTimeSeconds: 0 }, actor),
    ).rejects.toThrow(/task\.completed.*not wired/);
    await expect(emit(trx, { type: 'task.created', taskId: actor.userId }, actor)).rejects.toThrow(/task\.created.*not wired/);
  });

  it('runs the wired handlers once each, however often the same handlers are wired (an API and a worker in one process)', async () => {
    const bus = createEventBus();
    const heard: string[] = [];
    const subscribers: EventSubscribers = {
      'task.created': [async (_trx, e) => void heard.push(`created ${e.taskId}`)],
      'task.completed': [async () => ({ unlockedAchievements: [], streak: 3 })],
      'task.updated': [],
      'task.deleted': [],
      'subtask.completed': [],
      'note.converted': [async () => {}],
      'note.created': [],
      'reminder.fired': [],
    };
    bus.wire(subscribers);
    bus.wire(subscribers);
    expect(await bus.emit(trx, { type: 'task.created', taskId: 't1' }, actor)).toEqual({ unlockedAchievements: [] });
    expect(heard).toEqual(['created t1']);
    const completed = await bus.emit(trx, { type: 'task.completed', taskId: 't1', userId: actor.userId, completedBy: 'force', completedAt: new Date(), estimatedDuration: null, focusTimeSeconds: 0 }, actor);
    expect(completed).toEqual({ unlockedAchievements: [], streak: 3 });
  });
});
