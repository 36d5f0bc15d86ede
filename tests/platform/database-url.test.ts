import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { generate } from 'selfsigned';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDatabase } from '../../db/index.js';
import { migrateToLatest } from '../../db/migrate.js';
import { startEmbeddedPostgres, type RunningPostgres } from '../../db/embedded.js';

// Hosted PostgreSQL (Neon) is reached with URLs like postgresql://…/db?sslmode=require. Prove such a
// URL connects over TLS and migrates, against a local server with a certificate of its own.

let server: RunningPostgres;
let dir: string;
let certFile: string;

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pf-tls-'));
  fs.chmodSync(dir, 0o755);
  const pems = await generate([{ name: 'commonName', value: 'localhost' }], {
    keySize: 2048,
    algorithm: 'sha256',
    extensions: [
      { name: 'basicConstraints', cA: true },
      { name: 'subjectAltName', altNames: [{ type: 2, value: 'localhost' }, { type: 7, ip: '127.0.0.1' }] },
    ],
  });
  certFile = path.join(dir, 'server.crt');
  const keyFile = path.join(dir, 'server.key');
  fs.writeFileSync(certFile, pems.cert);
  fs.writeFileSync(keyFile, pems.private, { mode: 0o600 });
  // As root the server runs as `postgres`, which must own its key file.
  if (process.getuid?.() === 0) execFileSync('chown', ['postgres', keyFile, certFile]);
  server = await startEmbeddedPostgres({
    dataDir: path.join(dir, 'data'),
    port: 0,
    persistent: false,
    settings: { ssl: 'on', ssl_cert_file: certFile, ssl_key_file: keyFile },
  });
}, 60_000);

afterAll(async () => {
  await server?.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('DATABASE_URL with sslmode=require', () => {
  it('connects over TLS, verifies the server certificate and migrates', async () => {
    const url = `postgresql://postgres:postgres@localhost:${server.port}/postgres?sslmode=require&sslrootcert=${encodeURIComponent(certFile)}`;
    const { db, pool } = createDatabase(url, { max: 2 });
    try {
      const { rows } = await sql<{ ssl: boolean }>`select ssl from pg_stat_ssl where pid = pg_backend_pid()`.execute(db);
      expect(rows[0]!.ssl).toBe(true);
      await migrateToLatest(db, pool);
      const tables = await sql<{ n: number }>`select count(*)::int as n from information_schema.tables where table_name = 'users'`.execute(db);
      expect(tables.rows[0]!.n).toBe(1);
    } finally {
      await db.destroy();
    }
  });

  it('refuses a server whose certificate it cannot verify', async () => {
    const { db } = createDatabase(`postgresql://postgres:postgres@localhost:${server.port}/postgres?sslmode=require`, { max: 1 });
    try {
      await expect(sql`select 1`.execute(db)).rejects.toThrow(/certificate/i);
    } finally {
      await db.destroy();
    }
  });
});
