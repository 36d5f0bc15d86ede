import dns from 'node:dns';
import https from 'node:https';
import net from 'node:net';
import tls from 'node:tls';

// Downloads a recording for POST /ai/transcribe from a URL the client chose — the classic SSRF
// vector — so only over https, only from public addresses, checked on every redirect hop. The
// check happens inside the connection's own DNS lookup: the address that was checked is the one
// connected to (no window for DNS rebinding between a check and the connect).

/** Why a download was refused or failed; the caller answers 400 naming body.audio_url. */
export class AudioDownloadError extends Error {
  override name = 'AudioDownloadError';
}

export type LookupAll = (hostname: string) => Promise<{ address: string; family: number }[]>;

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

// Everything that is not the public internet (IANA special-purpose registries). One list per
// family: a BlockList also matches IPv4 addresses against IPv4-mapped IPv6 rules.
const NON_PUBLIC_V4 = new net.BlockList();
const NON_PUBLIC_V6 = new net.BlockList();
for (const [prefix, bits] of [
  ['0.0.0.0', 8], ['10.0.0.0', 8], ['100.64.0.0', 10], ['127.0.0.0', 8], ['169.254.0.0', 16], ['172.16.0.0', 12],
  ['192.0.0.0', 24], ['192.0.2.0', 24], ['192.88.99.0', 24], ['192.168.0.0', 16], ['198.18.0.0', 15], ['198.51.100.0', 24],
  ['203.0.113.0', 24], ['224.0.0.0', 4], ['240.0.0.0', 4],
] as const) NON_PUBLIC_V4.addSubnet(prefix, bits, 'ipv4');
for (const [prefix, bits] of [
  ['::', 96], ['::ffff:0:0', 96], ['64:ff9b::', 96], ['64:ff9b:1::', 48], ['100::', 64], ['2001::', 23], ['2001:db8::', 32],
  ['2002::', 16], ['fc00::', 7], ['fe80::', 10], ['fec0::', 10], ['ff00::', 8],
] as const) NON_PUBLIC_V6.addSubnet(prefix, bits, 'ipv6');

/** The IPv4 address an IPv4-mapped or -translated IPv6 address stands for, if any. */
function embeddedIpv4(address: string): string | undefined {
  const m = /^(?:::ffff:|64:ff9b::)(?:(\d+\.\d+\.\d+\.\d+)|([0-9a-f]{1,4}):([0-9a-f]{1,4}))$/i.exec(address);
  if (!m) return undefined;
  if (m[1]) return m[1];
  const hi = parseInt(m[2]!, 16);
  const lo = parseInt(m[3]!, 16);
  return `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
}

const LOOPBACK_V4 = new net.BlockList();
LOOPBACK_V4.addSubnet('127.0.0.0', 8, 'ipv4');

/** Whether an IP address is on the public internet (loopback too when allowed, for tests). */
export function isPublicAddress(address: string, allowLoopback = false): boolean {
  const family = net.isIP(address);
  if (family === 0) return false;
  const v4 = family === 4 ? address : embeddedIpv4(address);
  if (allowLoopback && (v4 !== undefined ? LOOPBACK_V4.check(v4, 'ipv4') : address === '::1' || address === '0:0:0:0:0:0:0:1')) return true;
  return v4 !== undefined ? !NON_PUBLIC_V4.check(v4, 'ipv4') : !NON_PUBLIC_V6.check(address, 'ipv6');
}

const systemLookup: LookupAll = (hostname) => dns.promises.lookup(hostname, { all: true, verbatim: true });

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
  const host = u.hostname.replace(/^\[|\]$/g, '');
  if (net.isIP(host) && !isPublicAddress(host, allowLoopback)) throw new AudioDownloadError('The address is not a public internet address');
  return u;
}

function get(target: URL, o: { lookupAll: LookupAll; allowLoopback: boolean; ca?: string[]; signal: AbortSignal }): Promise<import('node:http').IncomingMessage> {
  // Called by the socket for the connection itself (also with `all: true` under autoSelectFamily).
  const guardedLookup = (hostname: string, options: dns.LookupOptions, callback: (...args: any[]) => void) => {
    o.lookupAll(hostname).then(
      (addresses) => {
        if (addresses.length === 0) return callback(new AudioDownloadError('The host name does not resolve'));
        if (addresses.some((a) => !isPublicAddress(a.address, o.allowLoopback))) {
          return callback(new AudioDownloadError('The host name resolves to an address that is not public'));
        }
        const usable = options.family ? addresses.filter((a) => a.family === options.family) : addresses;
        if (options.all) return callback(null, usable);
        const first = usable[0] ?? addresses[0]!;
        return callback(null, first.address, first.family);
      },
      () => callback(new AudioDownloadError('The host name does not resolve')),
    );
  };
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
