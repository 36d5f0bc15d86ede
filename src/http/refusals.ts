import { randomUUID } from 'node:crypto';
import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import { AppError, errorBody, headersOf, statusOf, validationError, type DomainError } from './errors.js';
import type { Logger } from '../core/logging.js';
import { FIXED_HEADERS } from './response-headers.js';

/**
 * An error answered on the bare socket, where no ServerResponse exists (node:http refused the
 * request before routing; a WebSocket upgrade): the error envelope with the headers every answer
 * carries, then the connection closes.
 */
export function writeRawError(socket: Duplex, err: DomainError, requestId: string = randomUUID()): void {
  const body = JSON.stringify(errorBody(err, requestId));
  const status = statusOf(err);
  const headers: (readonly [string, string])[] = [
    ...FIXED_HEADERS,
    ...Object.entries(headersOf(err) ?? {}),
    ['X-Request-ID', requestId],
    ['Content-Type', 'application/json; charset=utf-8'],
    ['Content-Length', String(Buffer.byteLength(body))],
    ['Connection', 'close'],
  ];
  socket.end(`HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}\r\n${headers.map(([k, v]) => `${k}: ${v}`).join('\r\n')}\r\n\r\n${body}`);
}

/** What node:http's parser or its timers refused, as our error (its own answers are bare text). */
function refusalOf(code: string | undefined): DomainError {
  switch (code) {
    case 'HPE_HEADER_OVERFLOW':
      return new AppError('REQUEST_HEADERS_TOO_LARGE', 'The request headers are over 16 KB in total');
    case 'HPE_CHUNK_EXTENSIONS_OVERFLOW':
      return new AppError('PAYLOAD_TOO_LARGE', 'The chunk extensions are too large');
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return new AppError('REQUEST_TIMEOUT', 'The request did not arrive in time');
    default:
      return validationError([{ field: 'request', message: 'is not valid HTTP/1.1' }], 'The request is not valid HTTP');
  }
}

/**
 * node:http's `clientError`: a request refused before it is routed (malformed, headers too large,
 * too slow) is answered in the error envelope instead of Node's bare status line, unless an answer
 * is already under way on the socket or the client is gone.
 */
export function answerClientError(log: Logger): (err: NodeJS.ErrnoException, socket: Duplex) => void {
  return (err, socket) => {
    const inFlight = (socket as Duplex & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
    if (err.code === 'ECONNRESET' || !socket.writable || inFlight?.headersSent) {
      socket.destroy();
      return;
    }
    const refusal = refusalOf(err.code);
    const requestId = randomUUID();
    log.info({ request_id: requestId, operation: 'unmatched', status: statusOf(refusal), error_code: refusal.code, reason: err.code }, 'request refused before routing');
    // Closed once the answer is written: a client that keeps sending (slowloris) holds nothing.
    socket.once('finish', () => socket.destroy());
    writeRawError(socket, refusal, requestId);
  };
}
