import { contractSchema, validationSummary } from '../../src/domain/ai/contract-schemas.js';
import { contract } from '../helpers/contract.js';

export interface SseEvent {
  event: string;
  data: any;
}

const EVENT_SCHEMAS: Record<string, string> = { delta: 'ChatStreamDelta', done: 'ChatResult', error: 'ChatStreamError' };

/**
 * Parses an SSE body (WHATWG format: `event:` and `data:` lines, events separated by a blank line,
 * `:` comments) and checks each event's data against the schema the contract's x-sse-events names.
 */
export function parseChatEvents(text: string): SseEvent[] {
  const events: SseEvent[] = [];
  for (const block of text.split('\n\n')) {
    const lines = block.split('\n').filter((l) => l && !l.startsWith(':'));
    if (!lines.length) continue;
    const event = lines.find((l) => l.startsWith('event: '))?.slice(7) ?? 'message';
    const dataLines = lines.filter((l) => l.startsWith('data: '));
    if (dataLines.length !== 1) throw new Error(`event ${event} must carry exactly one data line: ${block}`);
    const data = JSON.parse(dataLines[0]!.slice(6));
    const schema = EVENT_SCHEMAS[event];
    if (!schema) throw new Error(`unknown event ${event}`);
    const validate = contractSchema(contract, schema);
    if (!validate(data)) throw new Error(`${event} event does not match ${schema}: ${validationSummary(validate)}`);
    events.push({ event, data });
  }
  return events;
}
