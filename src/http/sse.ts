import type { ServerResponse } from 'node:http';

// Server-sent events (WHATWG HTML, "Server-sent events"): `event:` + one `data:` line of JSON + a
// blank line per event, and a comment line as keep-alive so proxies do not cut an idle stream.

export const KEEP_ALIVE_MS = 15_000;

export interface EventStream {
  /** Writes one event (with an `id:` line when given); false when the client's buffer is full: await drained(). */
  send(event: string, data: unknown, id?: string): boolean;
  /** Resolves once the client has taken what was written (or went away). */
  drained(): Promise<void>;
  /** Ends the response (after the last event). */
  end(): void;
  /**
   * Stops the stream (no more events or keep-alives) but leaves the response open for its owner to
   * end: the dispatcher stores an idempotent stream's answer first, so a retry that arrives the
   * moment the client sees the end finds it stored.
   */
  finish(): void;
  /** True once the client went away (or end() was called). */
  readonly closed: boolean;
  /** Runs when the client disconnects before end(). */
  onDisconnect(fn: () => void): void;
}

/** Sends the 200 with `text/event-stream` and returns a writer for its events. */
export function openEventStream(res: ServerResponse, opts: { keepAliveMs?: number; comment?: string } = {}): EventStream {
  const comment = `: ${opts.comment ?? 'keep-alive'}\n\n`;
  res.writeHead(200, {
    'Content-Type': 'text/event-stream; charset=utf-8',
    'Cache-Control': 'no-store', // an answer for one caller, like every authenticated one
    Connection: 'keep-alive',
    // nginx and similar proxies would otherwise buffer the stream
    'X-Accel-Buffering': 'no',
  });
  res.flushHeaders();
  let ended = false;
  // The client may have gone while the first piece was awaited.
  let disconnected = res.destroyed || !res.socket || res.socket.destroyed;
  const listeners: (() => void)[] = [];
  const keepAlive = setInterval(() => {
    if (!ended && !disconnected) res.write(comment);
  }, opts.keepAliveMs ?? KEEP_ALIVE_MS);
  res.on('close', () => {
    clearInterval(keepAlive);
    if (ended) return;
    disconnected = true;
    for (const fn of listeners) fn();
  });
  return {
    send(event, data, id) {
      if (ended || disconnected) return true;
      // JSON.stringify escapes line breaks inside strings: the data is one line. Ids are cursors (base64url).
      return res.write(`event: ${event}\n${id === undefined ? '' : `id: ${id}\n`}data: ${JSON.stringify(data)}\n\n`);
    },
    drained() {
      if (disconnected || !res.writableNeedDrain) return Promise.resolve();
      return new Promise((resolve) => {
        const done = () => {
          res.off('drain', done);
          res.off('close', done);
          resolve();
        };
        res.on('drain', done);
        res.on('close', done);
      });
    },
    end() {
      this.finish();
      if (!disconnected && !res.writableEnded) res.end();
    },
    finish() {
      ended = true;
      clearInterval(keepAlive);
    },
    get closed() {
      return ended || disconnected;
    },
    onDisconnect(fn) {
      if (disconnected) fn();
      else listeners.push(fn);
    },
  };
}

/** Whether the request's Accept header prefers an event stream over JSON (RFC 9110 §12.5.1 q-values). */
export function prefersEventStream(accept: string | undefined): boolean {
  if (!accept) return false;
  let sse = -1;
  let json = -1;
  for (const part of accept.split(',')) {
    const [type = '', ...params] = part.trim().split(';').map((p) => p.trim().toLowerCase());
    const qParam = params.find((p) => p.startsWith('q='));
    const q = qParam ? Number(qParam.slice(2)) : 1;
    if (!Number.isFinite(q)) continue;
    if (type === 'text/event-stream') sse = Math.max(sse, q);
    else if (type === 'application/json' || type === 'application/*' || type === '*/*') json = Math.max(json, type === 'application/json' ? q : q - 0.001);
  }
  return sse > 0 && sse >= json;
}
