/** Every job the worker runs, with its payload. Handlers live in jobs/tasks/<name>.ts. */
export interface JobPayloads {
  cleanup: Record<string, never>;
  /** Fires one reminder; job key `reminder:<id>`, run at its scheduled_at. */
  reminder_fire: { reminderId: string };
  /** Generates the next instance of a template after `completedTaskId` was completed; job key `recurring:<completedTaskId>`. */
  recurring_task_generate: { templateId: string; completedTaskId: string };
  /**
   * Web Push of one notification (issue #5): without `subscriptionId` it fans out to one job per
   * subscription of the user (job key `push:<notificationId>:<subscriptionId>`), each retried alone.
   */
  push_deliver: { notificationId: string; subscriptionId?: string };
  /** Hourly (issue #5): renewal charges, grace periods and cancelled periods that end; at `now` (tests) or the current time. */
  subscription_check: { now?: string; _cron?: { ts: string } };
  /** 00:00 UTC (issue #5): expires yesterday's daily credits and grants today's to Pro users; idempotent per user and day. */
  daily_credit_grant: { now?: string; _cron?: { ts: string } };
  /** 00:00 UTC (issue #5): current streaks of users whose last completion is before yesterday become 0. */
  streak_calculate: { now?: string; _cron?: { ts: string } };
}

export type JobName = keyof JobPayloads;
