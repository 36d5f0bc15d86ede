import type { ServerResponse } from 'node:http';

// A JSON document written as it is produced (chunked transfer encoding) and offered as a download.
// Small pieces are gathered into ~64 KiB writes; a write the socket cannot take yet waits for
// 'drain', so a slow client slows the producer instead of filling the server's memory.

const FLUSH_BYTES = 64 * 1024;

/** The client went away mid-download: stop producing. */
export class ClientGone extends Error {
  constructor() {
    super('the client closed the connection');
  }
}

export interface JsonDownload {
  /** Queues a piece of the document; resolves once the consumer can take more. */
  write(chunk: string): Promise<void>;
  /** Writes what is queued and ends the response. */
  end(): Promise<void>;
}

/**
 * Sends nothing until the first flush, so an error thrown before any byte (e.g. 401) still becomes
 * a normal error response; after that, the caller's error means a truncated body (the dispatcher
 * destroys the connection).
 */
export function openJsonDownload(res: ServerResponse, fileName: string): JsonDownload {
  let pending: string[] = [];
  let size = 0;
  const gone = () => res.destroyed || res.writableEnded;

  const flush = async () => {
    if (gone()) throw new ClientGone();
    if (!res.headersSent) {
      res.statusCode = 200;
      res.setHeader('Content-Type', 'application/json; charset=utf-8');
      res.setHeader('Content-Disposition', `attachment; filename="${fileName}"`);
      res.setHeader('Cache-Control', 'no-store');
    }
    const text = pending.join('');
    pending = [];
    size = 0;
    if (res.write(text)) return;
    await new Promise<void>((resolve, reject) => {
      const done = () => {
        res.off('drain', done);
        res.off('close', done);
        if (gone()) reject(new ClientGone());
        else resolve();
      };
      res.on('drain', done);
      res.on('close', done);
    });
  };

  return {
    async write(chunk) {
      pending.push(chunk);
      size += chunk.length;
      if (size >= FLUSH_BYTES) await flush();
    },
    async end() {
      await flush();
      res.end();
    },
  };
}
