import type { Database } from '../../db/index.js';
import type { Logger } from '../../src/core/logging.js';
import { deliverWebhook, type DeliveryResult } from '../../src/domain/webhooks/deliveries.js';
import type { WebhookSender } from '../../src/integrations/webhook-sender.js';
import type { JobPayloads } from '../names.js';

/** `webhook_deliver`: one attempt of one outgoing webhook delivery. */
export function webhookDeliver(deps: { db: Database; sender: WebhookSender; log: Logger }, payload: JobPayloads['webhook_deliver']): Promise<DeliveryResult> {
  return deliverWebhook(deps, payload);
}
