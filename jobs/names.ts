/** Every job the worker runs, with its payload. Handlers live in jobs/tasks/<name>.ts. */
export interface JobPayloads {
  cleanup: Record<string, never>;
}

export type JobName = keyof JobPayloads;
