import { createHash } from 'node:crypto';
import { invalidField } from '../../core/errors.js';

/**
 * Where a client stands in its sync. Two phases:
 * - `snapshot`: paging through the user's current rows (kind by kind, by id) after a call without
 *   cursor; `boundary` is the oldest transaction still running when the snapshot began, so every
 *   change older than it is in the rows and every other one comes in the delta phase.
 * - `delta`: every change up to (xid, seq) has been handed out.
 */
export type SyncCursor =
  | { phase: 'snapshot'; boundary: bigint; kind: number; afterId: string | null }
  | { phase: 'delta'; xid: bigint; seq: bigint };

const MAX_SEQ = 9_223_372_036_854_775_807n;

/** The delta position where a snapshot that began at `boundary` continues. */
export const afterSnapshot = (boundary: bigint): SyncCursor => ({ phase: 'delta', xid: boundary - 1n, seq: MAX_SEQ });

// The tag binds a cursor to its user, so another user's cursor is refused instead of silently
// resuming from someone else's position. It is not a secret: a cursor only ever reads its caller's rows.
const tag = (userId: string, payload: string) => createHash('sha256').update(`${userId}|${payload}`).digest('base64url').slice(0, 16);

export function encodeCursor(userId: string, c: SyncCursor): string {
  const payload = c.phase === 'snapshot' ? `s.${c.boundary}.${c.kind}.${c.afterId ?? '-'}` : `d.${c.xid}.${c.seq}`;
  return Buffer.from(`${payload}.${tag(userId, payload)}`).toString('base64url');
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const NUM = /^\d{1,19}$/;

export function decodeCursor(userId: string, text: string, kinds: number): SyncCursor {
  const invalid = () => invalidField('query.cursor', 'is not a cursor of this user; sync again without a cursor');
  const bytes = Buffer.from(text, 'base64url');
  // Only the one encoding we hand out: base64url decoding ignores stray trailing bits.
  if (bytes.toString('base64url') !== text) throw invalid();
  const parts = bytes.toString('utf8').split('.');
  const mac = parts.pop();
  const payload = parts.join('.');
  if (!mac || mac !== tag(userId, payload)) throw invalid();
  const [phase, a, b, c] = parts;
  if (phase === 'd' && parts.length === 3 && NUM.test(a!) && NUM.test(b!)) {
    const xid = BigInt(a!);
    const seq = BigInt(b!);
    if (xid >= 0n && seq <= MAX_SEQ) return { phase: 'delta', xid, seq };
  }
  if (phase === 's' && parts.length === 4 && NUM.test(a!) && /^\d$/.test(b!) && Number(b) < kinds && (c === '-' || UUID.test(c!))) {
    return { phase: 'snapshot', boundary: BigInt(a!), kind: Number(b), afterId: c === '-' ? null : c! };
  }
  throw invalid();
}
