import { sql } from 'kysely';
import type { Database } from '../../db/index.js';

export interface CleanupResult {
  idempotencyKeys: number;
  refreshTokens: number;
  activityLogs: number;
  rateLimits: number;
  tombstones: number;
  aiTaskCounters: number;
  webhookEvents: number;
  abandonedVoiceSessions: number;
  syncCommands: number;
}

const BATCH = 5_000;

/** Deletes in batches so a large backlog never holds long locks. */
async function deleteInBatches(db: Database, table: string, where: ReturnType<typeof sql>): Promise<number> {
  let total = 0;
  for (;;) {
    const res = await sql`delete from ${sql.table(table)} where ctid in (select ctid from ${sql.table(table)} where ${where} limit ${BATCH})`.execute(db);
    const n = Number(res.numAffectedRows ?? 0);
    total += n;
    if (n < BATCH) return total;
  }
}

/**
 * Retention (FR-053, PLAN-R2): idempotency keys past their 24 h, refresh tokens revoked or expired
 * more than 7 days ago (kept that long for audit), activity older than 30 days, spent rate-limit
 * windows, tombstones past their recovery window, per-task AI counters of access tokens that have
 * expired (a counter belongs to one token, its jti; none lives longer than an hour, the longest
 * JWT_ACCESS_EXPIRY_MINUTES allows, and none is counted before it is issued), webhook event ids older
 * than 90 days (far beyond Checkout.com's retry schedule), voice sessions a crash left open, and
 * offline sync commands' stored results after 30 days (a batch replayed later is applied again).
 * Idempotent: running it twice changes nothing more.
 */
export async function cleanup(db: Database, now = new Date()): Promise<CleanupResult> {
  return {
    idempotencyKeys: await deleteInBatches(db, 'idempotency_keys', sql`expires_at <= ${now}`),
    refreshTokens: await deleteInBatches(db, 'refresh_tokens', sql`coalesce(revoked_at, expires_at) <= ${now}::timestamptz - interval '7 days'`),
    activityLogs: await deleteInBatches(db, 'activity_logs', sql`created_at <= ${now}::timestamptz - interval '30 days'`),
    rateLimits: await deleteInBatches(db, 'rate_limits', sql`expire is not null and expire <= ${now.getTime()}`),
    tombstones: await deleteInBatches(db, 'deletion_tombstones', sql`recoverable_until <= ${now}`),
    aiTaskCounters: await deleteInBatches(
      db,
      'ai_task_counters',
      sql`updated_at <= ${now}::timestamptz - interval '1 hour'`,
    ),
    webhookEvents: await deleteInBatches(db, 'webhook_events', sql`created_at <= ${now}::timestamptz - interval '90 days'`),
    // A relay lasts at most twice its 300 s cap; one still "active" after an hour lost its process.
    abandonedVoiceSessions: Number(
      (
        await sql`update voice_sessions set status = 'failed', ended_at = ${now}, updated_at = ${now}
                  where status = 'active' and started_at <= ${now}::timestamptz - interval '1 hour'`.execute(db)
      ).numAffectedRows ?? 0,
    ),
    syncCommands: await deleteInBatches(db, 'sync_commands', sql`created_at <= ${now}::timestamptz - interval '30 days'`),
  };
}
