import fs from 'node:fs';
import type pg from 'pg';

// What the database and the disk were doing while the mixed workload ran, so a slow window of the
// report can be read next to its cause: backends waiting for the WAL, the API's pool queue, the
// disk's busy time, and PostgreSQL's checkpoints.

/** One 10-s window of the measurement, aligned with the load generator's timeline. */
export interface DbWindow {
  t: number;
  /** Most backends waiting for the WAL (WALWrite, WALSync, WALInsert, …) in one sample (4 a second). */
  walWaitMax: number;
  /** Most requests waiting for a connection of the API's pool in one sample (1 a second). */
  poolWaitMax: number;
  /** WAL written, MB, and the full-page images in it (each page's first change after a checkpoint). */
  walMb: number | null;
  fullPages: number | null;
  /** Share of the window the disk had I/O in flight (from /proc/diskstats), 0–1. */
  diskBusy: number | null;
  /** Mean time of a completed disk write in the window, ms. */
  diskWriteMs: number | null;
  /** A checkpoint was running in this window: 'write' (spreading its writes) or 'sync' (its fsyncs). */
  checkpoint: 'write' | 'sync' | null;
}

export interface Checkpoint {
  /** Epoch ms. */
  startedAt: number;
  endedAt: number;
  syncMs: number;
}

interface FastSample {
  at: number;
  walWaits: number;
}

interface SlowSample {
  at: number;
  walBytes: number | null;
  walFpi: number | null;
  disk: { ioMs: number; writes: number; writeMs: number } | null;
  /** Buffers written by checkpoints so far: it grows while a checkpoint spreads its writes. */
  checkpointBuffers: number | null;
  poolWaiting: number | null;
}

/** Whole disks only (a partition's time is also its disk's). */
const WHOLE_DISK = /^(?:[svx]d[a-z]+|nvme\d+n\d+|mmcblk\d+)$/;

function diskTotals(): SlowSample['disk'] {
  try {
    let ioMs = 0;
    let writes = 0;
    let writeMs = 0;
    let any = false;
    for (const line of fs.readFileSync('/proc/diskstats', 'utf8').split('\n')) {
      const f = line.trim().split(/\s+/);
      if (f.length < 14 || !WHOLE_DISK.test(f[2]!)) continue;
      any = true;
      writes += Number(f[7]);
      writeMs += Number(f[10]);
      ioMs += Number(f[12]);
    }
    return any ? { ioMs, writes, writeMs } : null;
  } catch {
    return null;
  }
}

async function poolWaiting(metricsUrl: string): Promise<number | null> {
  try {
    const text = await (await fetch(metricsUrl)).text();
    const m = /^db_pool_connections\{state="waiting"\} (\d+)/m.exec(text);
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

export interface DbSampler {
  stop(): Promise<{ windows(fromEpochMs: number, seconds: number, bucketSec?: number): DbWindow[]; checkpoints: Checkpoint[] }>;
}

/**
 * Samples `pg_stat_activity` four times a second and the WAL, the disk, the API's pool and the
 * last checkpoint once a second, on a connection of its own. Reading `pg_control_checkpoint()`
 * needs a superuser or pg_monitor; without it no checkpoints are reported.
 */
export async function startDbSampler(pool: pg.Pool, database: string, metricsUrl: string): Promise<DbSampler> {
  const client = await pool.connect();
  const fast: FastSample[] = [];
  const slow: SlowSample[] = [];
  const checkpoints: Checkpoint[] = [];
  let lastCheckpoint: { time: number; syncMs: number } | null = null;
  let busy = false;
  let ticks = 0;

  const checkpointState = async (): Promise<{ time: number; syncMs: number } | null> => {
    try {
      const { rows } = await client.query<{ time: Date; sync_ms: number }>(
        'select (select checkpoint_time from pg_control_checkpoint()) as time, (select checkpoint_sync_time from pg_stat_bgwriter) as sync_ms',
      );
      return { time: rows[0]!.time.getTime(), syncMs: Number(rows[0]!.sync_ms) };
    } catch {
      return null;
    }
  };
  lastCheckpoint = await checkpointState();

  const tick = async () => {
    if (busy) return;
    busy = true;
    try {
      const at = Date.now();
      const { rows } = await client.query<{ wal_waits: number }>(
        `select count(*) filter (where wait_event_type = 'LWLock' and wait_event like 'WAL%' or wait_event_type = 'IO' and wait_event like 'WAL%')::int as wal_waits
           from pg_stat_activity where datname = $1 and pid <> pg_backend_pid()`,
        [database],
      );
      fast.push({ at, walWaits: rows[0]!.wal_waits });
      if (ticks++ % 4 === 0) {
        const wal = await client
          .query<{ wal_bytes: string; wal_fpi: string; buffers_checkpoint: string }>('select wal_bytes, wal_fpi, (select buffers_checkpoint from pg_stat_bgwriter) from pg_stat_wal')
          .catch(() => null);
        const w = wal?.rows[0];
        slow.push({
          at,
          walBytes: w ? Number(w.wal_bytes) : null,
          walFpi: w ? Number(w.wal_fpi) : null,
          disk: diskTotals(),
          checkpointBuffers: w ? Number(w.buffers_checkpoint) : null,
          poolWaiting: await poolWaiting(metricsUrl),
        });
        const cp = await checkpointState();
        if (cp && lastCheckpoint && cp.time !== lastCheckpoint.time) {
          checkpoints.push({ startedAt: cp.time, endedAt: at, syncMs: cp.syncMs - lastCheckpoint.syncMs });
        }
        if (cp) lastCheckpoint = cp;
      }
    } catch {
      // a missed sample is a gap in the report, not a failed benchmark
    } finally {
      busy = false;
    }
  };
  const timer = setInterval(() => void tick(), 250);

  return {
    async stop() {
      clearInterval(timer);
      while (busy) await new Promise((r) => setTimeout(r, 20));
      client.release();
      const windows = (fromEpochMs: number, seconds: number, bucketSec = 10): DbWindow[] => {
        const out: DbWindow[] = [];
        for (let t = 0; t < seconds; t += bucketSec) {
          const a = fromEpochMs + t * 1000;
          const b = a + bucketSec * 1000;
          const f = fast.filter((s) => s.at >= a && s.at < b);
          // the slow samples bracketing the window, for differences of counters
          const first = [...slow].reverse().find((s) => s.at <= a) ?? slow.find((s) => s.at >= a);
          const last = slow.find((s) => s.at >= b) ?? slow[slow.length - 1];
          const inside = slow.filter((s) => s.at >= a && s.at < b);
          const span = first && last && last.at > first.at ? last.at - first.at : null;
          const d = (pick: (s: SlowSample) => number | null | undefined) => {
            const x = first ? pick(first) : null;
            const y = last ? pick(last) : null;
            return x == null || y == null ? null : y - x;
          };
          const walBytes = d((s) => s.walBytes);
          const fpi = d((s) => s.walFpi);
          const ioMs = d((s) => s.disk?.ioMs);
          const writes = d((s) => s.disk?.writes);
          const writeMs = d((s) => s.disk?.writeMs);
          const cp = checkpoints.find((c) => c.startedAt < b && c.endedAt > a);
          // A checkpoint still running when the load ended shows only in its buffers written.
          const checkpointWrites = d((s) => s.checkpointBuffers);
          out.push({
            t,
            walWaitMax: f.length ? Math.max(...f.map((s) => s.walWaits)) : 0,
            poolWaitMax: Math.max(0, ...inside.map((s) => s.poolWaiting ?? 0)),
            walMb: walBytes == null ? null : Math.round((walBytes / 1048576) * 10) / 10,
            fullPages: fpi,
            diskBusy: ioMs == null || !span ? null : Math.round(Math.min(1, ioMs / span) * 100) / 100,
            diskWriteMs: writeMs == null || !writes ? null : Math.round((writeMs / writes) * 10) / 10,
            checkpoint: cp && b > cp.endedAt - cp.syncMs - 1000 ? 'sync' : cp || checkpointWrites ? 'write' : null,
          });
        }
        return out;
      };
      return { windows, checkpoints };
    },
  };
}
