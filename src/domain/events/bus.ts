import type { components } from '../../../codegen/api.js';
import type { Executor } from '../../../db/index.js';
import type { Actor } from '../actor.js';

// The in-process event bus (seed AD-003). Handlers run synchronously inside the transaction of the
// change that raised the event, so their writes (activity, counters, unlocks) commit or roll back
// with it. Work that must survive a crash or may fail on its own (recurring generation, pushes)
// is not done in a handler: the handler enqueues a job with enqueueJob(trx, …).

export type DomainEvent =
  | { type: 'task.created'; taskId: string }
  | {
      type: 'task.completed';
      taskId: string;
      userId: string;
      completedBy: 'manual' | 'auto' | 'force';
      completedAt: Date;
      /** The task's estimate (minutes) and focus time (seconds) as completed, for focus completions. */
      estimatedDuration: number | null;
      focusTimeSeconds: number;
    }
  | { type: 'task.deleted'; taskId: string; tombstoneId: string }
  | { type: 'subtask.completed'; taskId: string; subtaskId: string }
  /** The first successful AI conversion of a note (issue #4 raises it; achievements count it toward notes_10). */
  | { type: 'note.converted'; noteId: string; convertedAt: Date };

export type EventType = DomainEvent['type'];
type EventOf<T extends EventType> = Extract<DomainEvent, { type: T }>;

/** What handlers hand back to the request that raised the event. */
export interface EventOutcome {
  unlockedAchievements: components['schemas']['AchievementUnlock'][];
}

export type EventHandler<T extends EventType> = (trx: Executor, event: EventOf<T>, actor: Actor) => Promise<Partial<EventOutcome> | void>;

const handlers = new Map<EventType, EventHandler<any>[]>();

/** Registers a handler for an event type; call at module load of the reacting domain. */
export function onEvent<T extends EventType>(type: T, handler: EventHandler<T>): void {
  handlers.set(type, [...(handlers.get(type) ?? []), handler]);
}

/** Runs every handler of the event, in registration order, in the caller's transaction. */
export async function emit(trx: Executor, event: DomainEvent, actor: Actor): Promise<EventOutcome> {
  const outcome: EventOutcome = { unlockedAchievements: [] };
  for (const handler of handlers.get(event.type) ?? []) {
    const r = await handler(trx, event, actor);
    if (r?.unlockedAchievements) outcome.unlockedAchievements.push(...r.unlockedAchievements);
  }
  return outcome;
}
