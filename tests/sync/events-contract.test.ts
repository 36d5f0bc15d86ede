import { expect, it } from 'vitest';
import { contractSchema, validationSummary } from '../../src/domain/ai/contract-schemas.js';
import { contract } from '../helpers/contract.js';
import { SseParser } from './event-stream.js';

// The event-stream examples of GET /events are text (SSE), which no schema check reads: each of
// their events is parsed and checked against the schema x-sse-events names for it.
it('GET /events examples parse as SSE, each event matching its schema', () => {
  const media = contract.document.paths['/events'].get.responses['200'].content['text/event-stream'];
  const schemas = Object.fromEntries(Object.entries<any>(media['x-sse-events']).map(([name, ref]) => [name, String(ref.$ref).split('/').pop()!]));
  for (const ref of Object.values<any>(media.examples)) {
    const example = contract.document.components.examples[String(ref.$ref).split('/').pop()!];
    const events: { event: string; data: string }[] = [];
    new SseParser((e) => events.push(e)).feed(example.value);
    expect(events.length).toBeGreaterThan(0);
    for (const e of events) {
      const validate = contractSchema(contract, schemas[e.event]!);
      expect(validate(JSON.parse(e.data)), `${e.event}: ${validationSummary(validate)}`).toBe(true);
    }
  }
});
