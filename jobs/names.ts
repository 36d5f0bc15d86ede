import { z } from 'zod';

// Every job the worker runs, with the schema of its payload; handlers live in jobs/tasks/<name>.ts.
// The schemas live here, not beside the handlers, because the domain enqueues jobs (jobs/enqueue.ts
// checks payloads against them) and the handlers import the domain: schemas in the handlers' files
// would make every enqueueing domain module import its own job's handler, a cycle.
// Unknown fields are dropped, not refused: a worker still reads a job a newer version enqueued.

const id = z.guid();
/** What graphile-worker adds to the payload of a cron job. */
const cronTick = z.object({ ts: z.string(), backfilled: z.boolean().optional() });
/** Payload of the cron jobs; `now` is the instant tests run them at (an unparsable one fails the run and is retried). */
const cronPayload = z.object({ now: z.string().optional(), _cron: cronTick.optional() });

export const jobPayloadSchemas = {
  cleanup: z.object({ _cron: cronTick.optional() }),
  /** Fires one reminder; job key `reminder:<id>`, run at its scheduled_at. */
  reminder_fire: z.object({ reminderId: id }),
  /** Generates the next instance of a template after `completedTaskId` was completed; job key `recurring:<completedTaskId>`. */
  recurring_task_generate: z.object({ templateId: id, completedTaskId: id }),
  /**
   * Web Push of one notification (issue #5): without `subscriptionId` it fans out to one job per
   * subscription of the user (job key `push:<notificationId>:<subscriptionId>`), each retried alone.
   */
  push_deliver: z.object({ notificationId: id, subscriptionId: id.optional() }),
  /**
   * Attempt `attempt` of one outgoing webhook delivery (issue 19); job key `webhook:<deliveryId>:<attempt>`.
   * A failed attempt enqueues the next itself, run at its backoff (src/domain/webhooks/deliveries.ts).
   */
  webhook_deliver: z.object({ deliveryId: id, attempt: z.number().int().min(1).max(1000) }),
  /** Hourly (issue #5): renewal charges, grace periods and cancelled periods that end; at `now` (tests) or the current time. */
  subscription_check: cronPayload,
  /** 00:00 UTC (issue #5): expires yesterday's daily credits and grants today's to Pro users; idempotent per user and day. */
  daily_credit_grant: cronPayload,
  /** 00:00 UTC (issue #5): current streaks of users whose last completion is before yesterday become 0. */
  streak_calculate: cronPayload,
};

export type JobName = keyof typeof jobPayloadSchemas;
/** Each job's payload as its schema admits it. */
export type JobPayloads = { [N in JobName]: z.infer<(typeof jobPayloadSchemas)[N]> };

/** A payload its job's schema refuses: the message names the job and each field at fault. */
export class JobPayloadError extends Error {
  constructor(
    readonly job: JobName,
    readonly issues: { field: string; message: string }[],
  ) {
    super(`Invalid payload for job ${job}: ${issues.map((i) => `${i.field}: ${i.message}`).join('; ')}`);
    this.name = 'JobPayloadError';
  }
}

/** The payload as the job's schema reads it, or a JobPayloadError. */
export function parseJobPayload<N extends JobName>(job: N, payload: unknown): JobPayloads[N] {
  const result = jobPayloadSchemas[job].safeParse(payload);
  // The schema of job N parses to JobPayloads[N]; TypeScript does not follow the generic index.
  if (result.success) return result.data as JobPayloads[N];
  throw new JobPayloadError(
    job,
    result.error.issues.map((i) => ({ field: i.path.length ? i.path.join('.') : '(payload)', message: i.message })),
  );
}
