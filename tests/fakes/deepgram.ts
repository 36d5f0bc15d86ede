import { createHash, randomUUID } from 'node:crypto';
import http from 'node:http';
import { WebSocketServer, type WebSocket } from 'ws';

/**
 * Deepgram's wire protocol on 127.0.0.1, for @deepgram/sdk pointed at `baseUrl`:
 * - `POST /v1/listen` (prerecorded): answers a transcript and `metadata.duration`, by default the
 *   body's length at `bytesPerSecond`;
 * - `GET /v1/listen` upgraded to a WebSocket (live): every binary frame is audio worth
 *   `bytes / bytesPerSecond` seconds; it answers `Results` (interim, then final every `finalEvery`
 *   frames) with `start`/`duration`, and `CloseStream` with the last final, `Metadata` (the total
 *   duration) and a close.
 * Both check `Authorization: Token <apiKey>`.
 */
export interface FakeDeepgram {
  baseUrl: string;
  apiKey: string;
  /** Audio bytes per second of the fake's "decoding" (16 kB/s ≈ 128 kbit/s). */
  bytesPerSecond: number;
  prerecorded: PrerecordedBehaviour;
  live: LiveBehaviour;
  /** Every prerecorded request: its query and body size. */
  prerecordedRequests: { query: URLSearchParams; bytes: number; contentType: string | undefined }[];
  /** Every live session, as it goes. */
  liveSessions: LiveSession[];
  close(): Promise<void>;
}

export interface PrerecordedBehaviour {
  transcript: string;
  confidence: number;
  language: string;
  /** Overrides the duration computed from the body. */
  duration?: number;
  /** Answer this status instead. */
  fail?: number;
  /** Never answer. */
  stall?: boolean;
}

export interface LiveBehaviour {
  /** Frames per final result; frames in between get interim results. */
  finalEvery: number;
  /** After this many audio frames, close the stream with 1011 (a provider failure). */
  failAfterFrames?: number;
  /** Refuse the upgrade with this status. */
  refuseWith?: number;
}

export interface LiveSession {
  query: URLSearchParams;
  frames: number;
  bytes: number;
  closeStreamReceived: boolean;
  closed: boolean;
}

export async function startFakeDeepgram(apiKey = 'dg-test-key'): Promise<FakeDeepgram> {
  const sockets = new Set<WebSocket>();
  const fake: FakeDeepgram = {
    baseUrl: '',
    apiKey,
    bytesPerSecond: 16_000,
    prerecorded: { transcript: 'Call the venue about the projector.', confidence: 0.94, language: 'en' },
    live: { finalEvery: 2 },
    prerecordedRequests: [],
    liveSessions: [],
    close: async () => {},
  };
  const authorized = (req: http.IncomingMessage) => req.headers.authorization === `Token ${apiKey}`;
  const round = (n: number) => Math.round(n * 1000) / 1000;

  const server = http.createServer(async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://fake');
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    if (req.method !== 'POST' || url.pathname !== '/v1/listen') {
      res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ err_code: 'NOT_FOUND', err_msg: 'not found' }));
      return;
    }
    if (!authorized(req)) {
      res.writeHead(401, { 'content-type': 'application/json' }).end(JSON.stringify({ err_code: 'INVALID_AUTH', err_msg: 'Invalid credentials.' }));
      return;
    }
    const body = Buffer.concat(chunks);
    fake.prerecordedRequests.push({ query: url.searchParams, bytes: body.length, contentType: req.headers['content-type'] });
    const p = fake.prerecorded;
    if (p.stall) return;
    if (p.fail) {
      res.writeHead(p.fail, { 'content-type': 'application/json' }).end(JSON.stringify({ err_code: 'INTERNAL', err_msg: 'upstream failure' }));
      return;
    }
    const duration = p.duration ?? round(body.length / fake.bytesPerSecond);
    res.writeHead(200, { 'content-type': 'application/json' }).end(
      JSON.stringify({
        metadata: {
          transaction_key: 'deprecated',
          request_id: randomUUID(),
          sha256: createHash('sha256').update(body).digest('hex'),
          created: new Date().toISOString(),
          duration,
          channels: 1,
          models: [randomUUID()],
          model_info: {},
        },
        results: {
          channels: [
            {
              alternatives: [{ transcript: p.transcript, confidence: p.confidence, words: [] }],
              ...(url.searchParams.get('detect_language') === 'true' ? { detected_language: p.language, language_confidence: 0.99 } : {}),
            },
          ],
        },
      }),
    );
  });

  const wss = new WebSocketServer({ noServer: true });
  server.on('upgrade', (req, socket, head) => {
    const url = new URL(req.url ?? '/', 'http://fake');
    const refuse = (status: number) => {
      socket.write(`HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
      socket.destroy();
    };
    if (url.pathname !== '/v1/listen') return refuse(404);
    if (!authorized(req)) return refuse(401);
    if (fake.live.refuseWith) return refuse(fake.live.refuseWith);
    wss.handleUpgrade(req, socket, head, (ws) => {
      sockets.add(ws);
      const session: LiveSession = { query: url.searchParams, frames: 0, bytes: 0, closeStreamReceived: false, closed: false };
      fake.liveSessions.push(session);
      const requestId = randomUUID();
      let reportedUntil = 0; // seconds of audio already covered by final results
      let words: string[] = [];
      const results = (isFinal: boolean, end: number) => {
        ws.send(
          JSON.stringify({
            type: 'Results',
            channel_index: [0, 1],
            start: round(reportedUntil),
            duration: round(end - reportedUntil),
            is_final: isFinal,
            speech_final: isFinal,
            channel: { alternatives: [{ transcript: words.join(' '), confidence: 0.9, words: [] }] },
            metadata: { request_id: requestId, model_info: { name: 'fake', version: '1', arch: 'fake' }, model_uuid: randomUUID() },
            from_finalize: false,
          }),
        );
        if (isFinal) {
          reportedUntil = end;
          words = [];
        }
      };
      ws.on('message', (data, isBinary) => {
        if (isBinary) {
          const bytes = (data as Buffer).length;
          session.frames++;
          session.bytes += bytes;
          if (fake.live.failAfterFrames !== undefined && session.frames > fake.live.failAfterFrames) {
            ws.close(1011, 'fake failure');
            return;
          }
          words.push(`word${session.frames}`);
          results(session.frames % fake.live.finalEvery === 0, session.bytes / fake.bytesPerSecond);
          return;
        }
        const msg = JSON.parse(String(data)) as { type: string };
        if (msg.type === 'Finalize' && words.length) results(true, session.bytes / fake.bytesPerSecond);
        if (msg.type === 'CloseStream') {
          session.closeStreamReceived = true;
          if (words.length) results(true, session.bytes / fake.bytesPerSecond);
          ws.send(
            JSON.stringify({
              type: 'Metadata',
              transaction_key: 'deprecated',
              request_id: requestId,
              sha256: 'fake',
              created: new Date().toISOString(),
              duration: round(session.bytes / fake.bytesPerSecond),
              channels: 1,
            }),
          );
          ws.close(1000);
        }
      });
      ws.on('close', () => {
        session.closed = true;
        sockets.delete(ws);
      });
    });
  });

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  fake.baseUrl = `http://127.0.0.1:${port}`;
  fake.close = () =>
    new Promise((resolve) => {
      for (const ws of sockets) ws.terminate();
      wss.close();
      server.close(() => resolve());
      server.closeAllConnections();
    });
  return fake;
}
