import type { Database } from '../../db/index.js';
import { generateAfterCompletion, type GenerationOutcome } from '../../src/domain/templates/generate-after-completion.js';
import type { JobPayloads } from '../names.js';

/** `recurring_task_generate`: the next instance of a template after a completion (job key `recurring:<completedTaskId>`); idempotent. */
export function recurringTaskGenerate(deps: { db: Database }, payload: JobPayloads['recurring_task_generate']): Promise<GenerationOutcome> {
  return generateAfterCompletion(deps.db, payload);
}
