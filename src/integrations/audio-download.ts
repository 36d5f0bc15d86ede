import https from 'node:https';
import net from 'node:net';
import tls from 'node:tls';
import { hostOf, isPublicAddress, publicOnlyLookup, systemLookup, type LookupAll } from './public-address.js';

// Downloads a recording for POST /ai/transcribe from a URL the client chose — the classic SSRF
// vector — so only over https, only from public addresses, checked on every redirect hop. The
// check happens inside the connection's own DNS lookup: the address that was checked is the one
// connected to (no window for DNS rebinding between a check and the connect).

// The address rules live in public-address.ts (shared with Web Push); re-exported for callers here.
export { isPublicAddress, type LookupAll } from './public-address.js';

/** Why a download was refused or failed; the caller answers 400 naming body.audio_url. */
export class AudioDownloadError extends Error {
  override name = 'AudioDownloadError';
}

export interface AudioDownloadOptions {
  /** Test-only (TRANSCRIBE_ALLOW_LOOPBACK): 127.0.0.0/8 and ::1 count as public. */
  allowLoopback: boolean;
  /** PEM certificates trusted besides the system's (TRANSCRIBE_EXTRA_CA_CERTS). */
  extraCa?: string;
  maxBytes: number;
  /** For the whole download, redirects included. */
  timeoutMs: number;
  maxRedirects?: number;
  /** DNS resolution (every address of the name); the system resolver by default. */
  lookup?: LookupAll;
}

export interface DownloadedAudio {
  bytes: Buffer;
  contentType: string | undefined;
}

const AUDIO_TYPES = /^(audio\/[\w.+-]+|video\/(webm|ogg|mp4|quicktime)|application\/ogg)$/i;

/** Recognises common audio containers by their first bytes, for servers that say octet-stream. */
function looksLikeAudio(head: Buffer): boolean {
  const at = (offset: number, text: string) => head.subarray(offset, offset + text.length).toString('latin1') === text;
  return (
    (head[0] === 0x1a && head[1] === 0x45 && head[2] === 0xdf && head[3] === 0xa3) || // Matroska/WebM
    at(0, 'OggS') ||
    (at(0, 'RIFF') && at(8, 'WAVE')) ||
    at(0, 'fLaC') ||
    at(0, 'ID3') ||
    (head[0] === 0xff && (head[1]! & 0xe0) === 0xe0) || // MPEG audio frame
    at(4, 'ftyp') ||
    at(0, '#!AMR') ||
    at(0, 'FORM')
  );
}

/** Downloads `url` under the rules above; throws AudioDownloadError with a message for the client. */
export async function downloadAudio(url: string, opts: AudioDownloadOptions): Promise<DownloadedAudio> {
  const lookupAll = opts.lookup ?? systemLookup;
  const ca = opts.extraCa ? [...tls.rootCertificates, opts.extraCa] : undefined;
  const deadline = AbortSignal.timeout(opts.timeoutMs);
  let current = url;
  for (let hop = 0; hop <= (opts.maxRedirects ?? 3); hop++) {
    const target = parseTarget(current, opts.allowLoopback);
    const res = await get(target, { lookupAll, allowLoopback: opts.allowLoopback, ca, signal: deadline });
    const status = res.statusCode ?? 0;
    if (status >= 300 && status < 400 && res.headers.location) {
      res.resume();
      current = new URL(res.headers.location, target).toString();
      continue;
    }
    if (status < 200 || status >= 300) {
      res.resume();
      throw new AudioDownloadError(`The recording could not be downloaded (HTTP ${status})`);
    }
    const declared = Number(res.headers['content-length']);
    if (Number.isFinite(declared) && declared > opts.maxBytes) {
      res.destroy();
      throw new AudioDownloadError(`The recording is larger than ${Math.floor(opts.maxBytes / 1_048_576)} MB`);
    }
    const bytes = await readAll(res, opts.maxBytes, deadline);
    const contentType = res.headers['content-type']?.split(';')[0]?.trim().toLowerCase();
    const audio = contentType && AUDIO_TYPES.test(contentType);
    const unlabelled = !contentType || contentType === 'application/octet-stream' || contentType === 'binary/octet-stream';
    if (!audio && !(unlabelled && looksLikeAudio(bytes.subarray(0, 16)))) throw new AudioDownloadError('The address does not serve an audio recording');
    if (bytes.length === 0) throw new AudioDownloadError('The recording is empty');
    return { bytes, contentType };
  }
  throw new AudioDownloadError('Too many redirects');
}

function parseTarget(raw: string, allowLoopback: boolean): URL {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw new AudioDownloadError('The address is not a valid URL');
  }
  if (u.protocol !== 'https:') throw new AudioDownloadError('The recording must be served over https');
  if (u.username || u.password) throw new AudioDownloadError('The address must not contain credentials');
  const host = hostOf(u);
  if (net.isIP(host) && !isPublicAddress(host, allowLoopback)) throw new AudioDownloadError('The address is not a public internet address');
  return u;
}

function get(target: URL, o: { lookupAll: LookupAll; allowLoopback: boolean; ca?: string[]; signal: AbortSignal }): Promise<import('node:http').IncomingMessage> {
  const guardedLookup = publicOnlyLookup(o.lookupAll, o.allowLoopback, (reason) =>
    new AudioDownloadError(reason === 'not_public' ? 'The host name resolves to an address that is not public' : 'The host name does not resolve'),
  );
  return new Promise((resolve, reject) => {
    const req = https.request(target, {
      method: 'GET',
      headers: { accept: 'audio/*, video/webm;q=0.9, application/octet-stream;q=0.5', 'user-agent': 'PerpetuaFlow-Transcription/1' },
      lookup: guardedLookup as any,
      agent: false,
      ...(o.ca ? { ca: o.ca } : {}),
      signal: o.signal,
    });
    req.on('response', resolve);
    req.on('error', (err) => {
      if (err instanceof AudioDownloadError) reject(err);
      else if (o.signal.aborted) reject(new AudioDownloadError('The download took too long'));
      else reject(new AudioDownloadError(`The recording could not be downloaded (${(err as NodeJS.ErrnoException).code ?? err.message})`));
    });
    req.end();
  });
}

async function readAll(res: import('node:http').IncomingMessage, maxBytes: number, signal: AbortSignal): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of res) {
      size += (chunk as Buffer).length;
      if (size > maxBytes) {
        res.destroy();
        throw new AudioDownloadError(`The recording is larger than ${Math.floor(maxBytes / 1_048_576)} MB`);
      }
      chunks.push(chunk as Buffer);
    }
  } catch (err) {
    if (err instanceof AudioDownloadError) throw err;
    throw new AudioDownloadError(signal.aborted ? 'The download took too long' : 'The download was interrupted');
  }
  return Buffer.concat(chunks);
}
