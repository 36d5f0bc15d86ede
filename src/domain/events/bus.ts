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
  /** A change through updateTask (PATCH /tasks/{id}), completion included; `fields` names what changed. */
  | { type: 'task.updated'; taskId: string; fields: string[] }
  | { type: 'task.deleted'; taskId: string; tombstoneId: string }
  | { type: 'subtask.completed'; taskId: string; subtaskId: string }
  /** The first successful AI conversion of a note (issue #4 raises it; achievements count it toward notes_10). */
  | { type: 'note.converted'; noteId: string; convertedAt: Date }
  | { type: 'note.created'; noteId: string }
  /**
   * Reminders that fired and notified their users (one whose task was completed or hidden is not
   * raised), once per batch the worker fires: they may belong to several users, so handlers read
   * each one's owner from `reminders`, not from the actor (a `system` actor of the first one).
   */
  | { type: 'reminder.fired'; reminders: { reminderId: string; userId: string }[] };

export type EventType = DomainEvent['type'];
type EventOf<T extends EventType> = Extract<DomainEvent, { type: T }>;

/** What handlers hand back to the request that raised the event. */
export interface EventOutcome {
  unlockedAchievements: components['schemas']['AchievementUnlock'][];
  /** The user's current streak after a `task.completed` (the achievements domain reports it; force-complete answers it). */
  streak?: number;
}

export type EventHandler<T extends EventType> = (trx: Executor, event: EventOf<T>, actor: Actor) => Promise<Partial<EventOutcome> | void>;

type Handlers<T extends EventType> = EventHandler<T>[];
/** Events some domain must hear: a completion or conversion nobody counts would lose streaks and achievements. */
type RequiredEvent = 'task.completed' | 'note.converted';

/**
 * Every event with the handlers that react to it, as a composition root states it: an event no
 * domain reacts to is listed with `[]`, and the events achievements depend on cannot be left empty.
 */
export type EventSubscribers = { [T in Exclude<EventType, RequiredEvent>]: Handlers<T> } & {
  [T in RequiredEvent]: [EventHandler<T>, ...Handlers<T>];
};

export interface EventBus {
  /** The composition root's one call (src/app.ts, jobs/runner.ts); wiring the same handlers again adds nothing. */
  wire(subscribers: EventSubscribers): void;
  /** One more handler, after those wired (tests that observe events). */
  subscribe<T extends EventType>(type: T, handler: EventHandler<T>): void;
  /** Runs every handler of the event, in registration order, in the caller's transaction. */
  emit(trx: Executor, event: DomainEvent, actor: Actor): Promise<EventOutcome>;
}

export function createEventBus(): EventBus {
  const handlers = new Map<EventType, EventHandler<any>[]>();
  let wired = false;
  const add = (type: EventType, handler: EventHandler<any>) => {
    const list = handlers.get(type) ?? [];
    if (!list.includes(handler)) handlers.set(type, [...list, handler]);
  };
  return {
    wire(subscribers) {
      for (const [type, list] of Object.entries(subscribers) as [EventType, EventHandler<any>[]][]) for (const h of list) add(type, h);
      wired = true;
    },
    subscribe(type, handler) {
      add(type, handler);
    },
    async emit(trx, event, actor) {
      // Fails the change (its transaction rolls back) instead of completing it without its reactions.
      if (!wired) throw new Error(`Domain event ${event.type} raised, but the event bus is not wired: the composition root must call domainEvents.wire() before serving`);
      const outcome: EventOutcome = { unlockedAchievements: [] };
      for (const handler of handlers.get(event.type) ?? []) {
        const r = await handler(trx, event, actor);
        if (r?.unlockedAchievements) outcome.unlockedAchievements.push(...r.unlockedAchievements);
        if (r?.streak !== undefined) outcome.streak = r.streak;
      }
      return outcome;
    },
  };
}

/**
 * The process's bus. Use cases raise events on it with emit(); the composition roots wire it
 * (src/app.ts for the API, jobs/runner.ts for the worker). One per process rather than a
 * parameter of every use case that raises events: those signatures are the narrow-dependencies work.
 */
export const domainEvents = createEventBus();

/** Raises a domain event on the process's bus, in the caller's transaction. */
export const emit = (trx: Executor, event: DomainEvent, actor: Actor): Promise<EventOutcome> => domainEvents.emit(trx, event, actor);
