import http from 'node:http';
import { contractSchema, validationSummary } from '../../src/domain/ai/contract-schemas.js';
import { assertMatchesContract, contract } from '../helpers/contract.js';

// A client of GET /events for tests: a real HTTP connection, parsed as the WHATWG "Server-sent
// events" section says (lines ending in LF, CR or CRLF; `field: value` with one optional space;
// comments; an event dispatched at a blank line; `id` kept across events), every event's data
// checked against the schema the contract's x-sse-events names for it.

export interface SseEvent {
  event: string;
  data: any;
  /** The last event id seen so far (what an EventSource would send as Last-Event-ID). */
  id: string | undefined;
  /** Date.now() when it was parsed. */
  at: number;
}

const eventSchemas = (): Record<string, string> => {
  const media = contract.document.paths['/events'].get.responses['200'].content['text/event-stream'];
  return Object.fromEntries(Object.entries<any>(media['x-sse-events']).map(([name, ref]) => [name, String(ref.$ref).split('/').pop()!]));
};

/** The event stream parser (WHATWG HTML §9.2.6), fed chunks of text. */
export class SseParser {
  private buffer = '';
  private data: string[] = [];
  private type = '';
  lastEventId: string | undefined;
  private first = true;

  constructor(private readonly onEvent: (e: { event: string; data: string; id: string | undefined }) => void, private readonly onComment: (text: string) => void = () => {}) {}

  feed(chunk: string): void {
    if (this.first) {
      chunk = chunk.replace(/^\uFEFF/, '');
      this.first = false;
    }
    this.buffer += chunk;
    for (;;) {
      const m = /\r\n|\r|\n/.exec(this.buffer);
      // A lone CR at the end may be the first half of CRLF: wait for more.
      if (!m || (m[0] === '\r' && m.index === this.buffer.length - 1)) return;
      const line = this.buffer.slice(0, m.index);
      this.buffer = this.buffer.slice(m.index + m[0].length);
      this.line(line);
    }
  }

  private line(line: string): void {
    if (line === '') {
      if (this.data.length) this.onEvent({ event: this.type || 'message', data: this.data.join('\n'), id: this.lastEventId });
      this.data = [];
      this.type = '';
      return;
    }
    if (line.startsWith(':')) return this.onComment(line.slice(1).trim());
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'event') this.type = value;
    else if (field === 'data') this.data.push(value);
    else if (field === 'id' && !value.includes('\0')) this.lastEventId = value;
  }
}

export interface OpenOptions {
  token?: string;
  ticket?: string;
  cursor?: string;
  lastEventId?: string;
  method?: 'GET' | 'HEAD';
}

/** An open GET /events, or its refusal (`status` ≠ 200 with the JSON `body`). */
export class EventStreamClient {
  readonly events: SseEvent[] = [];
  readonly comments: { text: string; at: number }[] = [];
  /** Resolves when the server ends the response or the connection drops. */
  readonly closed: Promise<void>;
  private waiters: Array<() => void> = [];
  private ended = false;
  private error: Error | undefined;

  private constructor(
    readonly status: number,
    readonly headers: http.IncomingHttpHeaders,
    readonly body: any,
    private readonly req: http.ClientRequest,
    res: http.IncomingMessage | undefined,
  ) {
    if (!res) {
      this.ended = true;
      this.closed = Promise.resolve();
      return;
    }
    const schemas = eventSchemas();
    const parser = new SseParser(
      (e) => {
        try {
          const schema = schemas[e.event];
          if (!schema) throw new Error(`GET /events sent an event the contract does not name: ${e.event}`);
          const data = JSON.parse(e.data);
          const validate = contractSchema(contract, schema);
          if (!validate(data)) throw new Error(`${e.event} event does not match ${schema}: ${validationSummary(validate)}`);
          this.events.push({ event: e.event, data, id: e.id, at: Date.now() });
        } catch (err) {
          this.error ??= err as Error;
        }
        this.notify();
      },
      (text) => {
        this.comments.push({ text, at: Date.now() });
        this.notify();
      },
    );
    res.setEncoding('utf8');
    res.on('data', (chunk: string) => parser.feed(chunk));
    this.closed = new Promise((resolve) => {
      const done = () => {
        this.ended = true;
        this.notify();
        resolve();
      };
      res.on('end', done);
      res.on('close', done);
      res.on('error', done);
    });
  }

  static async open(baseUrl: string, opts: OpenOptions = {}): Promise<EventStreamClient> {
    const url = new URL('/api/v1/events', baseUrl);
    if (opts.ticket !== undefined) url.searchParams.set('ticket', opts.ticket);
    if (opts.cursor !== undefined) url.searchParams.set('cursor', opts.cursor);
    const headers: Record<string, string> = { accept: 'text/event-stream' };
    if (opts.token) headers.authorization = `Bearer ${opts.token}`;
    if (opts.lastEventId !== undefined) headers['last-event-id'] = opts.lastEventId;
    const method = opts.method ?? 'GET';
    const req = http.request(url, { method, headers, agent: false });
    const res = await new Promise<http.IncomingMessage>((resolve, reject) => {
      req.on('response', resolve);
      req.on('error', reject);
      req.end();
    });
    const contentType = res.headers['content-type'] ?? null;
    if (res.statusCode !== 200 || method === 'HEAD') {
      let text = '';
      res.setEncoding('utf8');
      for await (const chunk of res) text += chunk;
      const body = text && contentType?.includes('json') ? JSON.parse(text) : text || undefined;
      assertMatchesContract(method, '/events', res.statusCode!, contentType, body);
      return new EventStreamClient(res.statusCode!, res.headers, body, req, undefined);
    }
    assertMatchesContract(method, '/events', 200, contentType, '');
    return new EventStreamClient(200, res.headers, undefined, req, res);
  }

  private notify(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }

  /** Waits until `done()` holds (checked on every event, comment and the end); fails after `ms`. */
  async until(done: () => boolean, ms = 5_000, what = 'the stream'): Promise<void> {
    const deadline = Date.now() + ms;
    for (;;) {
      if (this.error) throw this.error;
      if (done()) return;
      if (this.ended) throw new Error(`${what}: the stream ended first (${this.events.length} events)`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`${what}: not within ${ms} ms (${this.events.length} events)`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** The first `changes` event after index `from` that `match` accepts. */
  async changes(match: (data: any) => boolean, opts: { from?: number; ms?: number } = {}): Promise<SseEvent> {
    let found: SseEvent | undefined;
    await this.until(() => (found = this.events.slice(opts.from ?? 0).find((e) => e.event === 'changes' && match(e.data))) !== undefined, opts.ms, 'a matching changes event');
    return found!;
  }

  /** Waits for the server to end the stream; returns its `end` event, if it sent one. */
  async ending(ms = 5_000): Promise<SseEvent | undefined> {
    await Promise.race([this.closed, new Promise((_r, reject) => setTimeout(() => reject(new Error(`the stream did not end within ${ms} ms`)), ms))]);
    if (this.error) throw this.error;
    return this.events.find((e) => e.event === 'end');
  }

  get lastEventId(): string | undefined {
    return this.events.at(-1)?.id;
  }

  get isEnded(): boolean {
    return this.ended;
  }

  /** Drops the connection, as a client that goes away (or a network that breaks). */
  close(): void {
    this.req.destroy();
  }
}
