import dns from 'node:dns';
import net from 'node:net';

// Which addresses the service may connect to on a URL someone else chose (an audio_url to
// download, a Web Push endpoint): only the public internet. The check belongs inside the
// connection's own DNS lookup (`publicOnlyLookup`), so the address that was checked is the one
// connected to — no window for DNS rebinding between a check and the connect.

export type LookupAll = (hostname: string) => Promise<{ address: string; family: number }[]>;

// Everything that is not the public internet (IANA special-purpose registries). One list per
// family; an IPv4-mapped address is judged by the IPv4 address it stands for.
const NON_PUBLIC_V4 = new net.BlockList();
const NON_PUBLIC_V6 = new net.BlockList();
for (const [prefix, bits] of [
  ['0.0.0.0', 8], ['10.0.0.0', 8], ['100.64.0.0', 10], ['127.0.0.0', 8], ['169.254.0.0', 16], ['172.16.0.0', 12],
  ['192.0.0.0', 24], ['192.0.2.0', 24], ['192.88.99.0', 24], ['192.168.0.0', 16], ['198.18.0.0', 15], ['198.51.100.0', 24],
  ['203.0.113.0', 24], ['224.0.0.0', 4], ['240.0.0.0', 4],
] as const) NON_PUBLIC_V4.addSubnet(prefix, bits, 'ipv4');
for (const [prefix, bits] of [
  ['::', 96], // unspecified, loopback, IPv4-compatible (deprecated)
  ['::ffff:0:0:0', 96], // IPv4-translated (SIIT, RFC 2765): not routed on the internet, whatever IPv4 it embeds
  // NAT64 (RFC 6052/8215): a translator on the way may reach any IPv4 address, including the
  // operator's own networks, so neither the well-known nor the local-use prefix is public here.
  ['64:ff9b::', 96], ['64:ff9b:1::', 48],
  ['100::', 64], ['2001::', 23], ['2001:db8::', 32], ['2002::', 16],
  ['3fff::', 20], // documentation (RFC 9637)
  ['5f00::', 16], // SRv6 segment identifiers (RFC 9602)
  ['fc00::', 7], ['fe80::', 10], ['fec0::', 10], ['ff00::', 8],
] as const) NON_PUBLIC_V6.addSubnet(prefix, bits, 'ipv6');

/** The eight 16-bit groups of an IPv6 address (any spelling: `::`, a dotted IPv4 tail), or undefined. */
function ipv6Groups(address: string): number[] | undefined {
  if (net.isIPv6(address) === false) return undefined;
  let text = address.toLowerCase();
  const dotted = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (dotted) {
    const [a, b, c, d] = dotted.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, dotted.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail] = text.includes('::') ? text.split('::') : [text, undefined];
  const parse = (part: string | undefined) => (part ? part.split(':').map((g) => parseInt(g, 16)) : []);
  const left = parse(head);
  const right = parse(tail);
  const groups = tail === undefined ? left : [...left, ...new Array<number>(8 - left.length - right.length).fill(0), ...right];
  return groups.length === 8 ? groups : undefined;
}

/** The IPv4 address an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`, however written) connects to. */
function mappedIpv4(groups: number[]): string | undefined {
  if (!groups.slice(0, 5).every((g) => g === 0) || groups[5] !== 0xffff) return undefined;
  const [hi, lo] = [groups[6]!, groups[7]!];
  return `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
}

const LOOPBACK_V4 = new net.BlockList();
LOOPBACK_V4.addSubnet('127.0.0.0', 8, 'ipv4');

/** Whether an IP address is on the public internet (loopback too when allowed, for tests). */
export function isPublicAddress(address: string, allowLoopback = false): boolean {
  const family = net.isIP(address);
  if (family === 0) return false;
  const groups = family === 6 ? ipv6Groups(address) : undefined;
  if (family === 6 && !groups) return false;
  const v4 = family === 4 ? address : mappedIpv4(groups!);
  if (v4 !== undefined) return (allowLoopback && LOOPBACK_V4.check(v4, 'ipv4')) || !NON_PUBLIC_V4.check(v4, 'ipv4');
  if (allowLoopback && groups!.every((g, i) => g === (i === 7 ? 1 : 0))) return true;
  return !NON_PUBLIC_V6.check(address, 'ipv6');
}

/** Every address of a name, from the system resolver. */
export const systemLookup: LookupAll = (hostname) => dns.promises.lookup(hostname, { all: true, verbatim: true });

/** A URL's host as an address or name, without the brackets of an IPv6 literal. */
export const hostOf = (url: URL): string => url.hostname.replace(/^\[|\]$/g, '');

export type RefusedLookup = 'unresolvable' | 'not_public';

/**
 * A `lookup` for `net`/`tls`/`https` connections that resolves every address of the name and fails
 * the connection (with `refuse(reason)`) unless all of them are public. Called by the socket for
 * the connection itself (also with `all: true` under autoSelectFamily). Sockets skip `lookup` for
 * an IP literal: check literals with `isPublicAddress` before connecting.
 */
export function publicOnlyLookup(lookupAll: LookupAll, allowLoopback: boolean, refuse: (reason: RefusedLookup) => Error) {
  return (hostname: string, options: dns.LookupOptions, callback: (...args: any[]) => void): void => {
    lookupAll(hostname).then(
      (addresses) => {
        if (addresses.length === 0) return callback(refuse('unresolvable'));
        if (addresses.some((a) => !isPublicAddress(a.address, allowLoopback))) return callback(refuse('not_public'));
        const usable = options.family ? addresses.filter((a) => a.family === options.family) : addresses;
        if (options.all) return callback(null, usable);
        const first = usable[0] ?? addresses[0]!;
        return callback(null, first.address, first.family);
      },
      () => callback(refuse('unresolvable')),
    );
  };
}

export type HostCheck = { public: true } | { public: false; reason: RefusedLookup };

/**
 * Whether a host (name or IP literal) is public now: a literal by itself, a name by every address
 * it resolves to. For an early, friendly refusal only — the connection must still use
 * `publicOnlyLookup`, since a name may resolve differently later. `transient` DNS failures (no
 * answer from the resolver) are reported as public: the connection-time check decides then.
 */
export async function checkHost(host: string, opts: { lookupAll?: LookupAll; allowLoopback: boolean }): Promise<HostCheck> {
  if (net.isIP(host)) return isPublicAddress(host, opts.allowLoopback) ? { public: true } : { public: false, reason: 'not_public' };
  let addresses: { address: string }[];
  try {
    addresses = await (opts.lookupAll ?? systemLookup)(host);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return code === 'ENOTFOUND' || code === 'ENODATA' ? { public: false, reason: 'unresolvable' } : { public: true };
  }
  if (addresses.length === 0) return { public: false, reason: 'unresolvable' };
  return addresses.every((a) => isPublicAddress(a.address, opts.allowLoopback)) ? { public: true } : { public: false, reason: 'not_public' };
}
