import https from 'node:https';
import { TEST_TLS_CERT, TEST_TLS_KEY } from './tls.js';

/**
 * A web server holding recordings, over https on 127.0.0.1 with the tests' self-signed certificate
 * (the app trusts it through TRANSCRIBE_EXTRA_CA_CERTS). Tests put files or redirects at paths and
 * read which paths were requested.
 */
export interface FakeAudioHost {
  /** `https://127.0.0.1:<port>` */
  origin: string;
  port: number;
  requests: string[];
  serve(path: string, file: { body?: Buffer | string; contentType?: string; status?: number; location?: string }): void;
  close(): Promise<void>;
}

/** A WebM header followed by `size - 4` bytes: what a browser recording starts with. */
export const webmBytes = (size: number): Buffer => Buffer.concat([Buffer.from([0x1a, 0x45, 0xdf, 0xa3]), Buffer.alloc(Math.max(0, size - 4), 7)]);

export async function startFakeAudioHost(): Promise<FakeAudioHost> {
  const files = new Map<string, { body?: Buffer | string; contentType?: string; status?: number; location?: string }>();
  const host: FakeAudioHost = {
    origin: '',
    port: 0,
    requests: [],
    serve: (path, file) => void files.set(path, file),
    close: async () => {},
  };
  const server = https.createServer({ cert: TEST_TLS_CERT, key: TEST_TLS_KEY }, (req, res) => {
    host.requests.push(req.url ?? '');
    const file = files.get(req.url ?? '');
    if (!file) return void res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
    const headers: Record<string, string> = {};
    if (file.contentType) headers['content-type'] = file.contentType;
    if (file.location) headers.location = file.location;
    res.writeHead(file.status ?? 200, headers).end(file.body ?? '');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  host.port = (server.address() as { port: number }).port;
  host.origin = `https://127.0.0.1:${host.port}`;
  host.close = () =>
    new Promise((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  return host;
}
