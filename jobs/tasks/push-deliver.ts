import type { Database } from '../../db/index.js';
import { deliverPush, type PushDeliveryResult } from '../../src/domain/push/deliver-push.js';
import type { Logger } from '../../src/core/logging.js';
import type { PushSender } from '../../src/integrations/web-push.js';
import type { JobPayloads } from '../names.js';

/** `push_deliver`: one notification to one (or, fanning out, every) push subscription of its user. */
export function pushDeliver(deps: { db: Database; push: PushSender; log: Logger }, payload: JobPayloads['push_deliver']): Promise<PushDeliveryResult> {
  return deliverPush(deps.db, { push: deps.push, log: deps.log, payload });
}
