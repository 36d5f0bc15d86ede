import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { downloadAudio, isPublicAddress, type LookupAll } from '../../src/integrations/audio-download.js';
import { startFakeAudioHost, webmBytes, type FakeAudioHost } from '../fakes/audio-host.js';
import { startFakeDeepgram, type FakeDeepgram } from '../fakes/deepgram.js';
import { TEST_TLS_CERT } from '../fakes/tls.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { balanceOf, drainCredits, giveCredits, ledgerOf } from '../helpers/credits.js';
import { signUp, type TestUser } from '../helpers/users.js';

let dg: FakeDeepgram;
let host: FakeAudioHost;
let t: TestApp;
/** Loopback not allowed, as in production. */
let strict: TestApp;
let pro: TestUser;

const deepgramEnv = () => ({ DEEPGRAM_API_KEY: dg.apiKey, DEEPGRAM_URL: dg.baseUrl, TRANSCRIBE_EXTRA_CA_CERTS: TEST_TLS_CERT });

beforeAll(async () => {
  dg = await startFakeDeepgram();
  host = await startFakeAudioHost();
  t = await startTestApp({ env: { ...deepgramEnv(), TRANSCRIBE_ALLOW_LOOPBACK: 'true' } });
  strict = await startTestApp({ env: deepgramEnv() });
  host.serve('/voice.webm', { body: webmBytes(16_000 * 42), contentType: 'audio/webm' });
});
afterAll(async () => {
  await t?.close();
  await strict?.close();
  await host?.close();
  await dg?.close();
});
beforeEach(async () => {
  dg.prerecorded = { transcript: 'Call the venue about the projector.', confidence: 0.94, language: 'en' };
  pro = await signUp(t, { tier: 'pro' });
  await giveCredits(t, pro.id, 'purchased', 50);
});

const transcribe = (u: TestUser, body: Record<string, unknown>) => u.api.post('/ai/transcribe', body);

describe('transcribeAudio', () => {
  it('downloads the recording, transcribes it and charges 5 credits per started minute of the measured duration', async () => {
    const res = await transcribe(pro, { audio_url: `${host.origin}/voice.webm`, duration_seconds: 1 });
    expect(res.status).toBe(200);
    expect(res.body.data).toEqual({ transcription: 'Call the venue about the projector.', language: 'en', confidence: 0.94, duration_seconds: 42, credits_used: 5, credits_remaining: 50 });
    const sent = dg.prerecordedRequests.at(-1)!;
    expect(sent.bytes).toBe(16_000 * 42);
    expect(sent.query.get('detect_language')).toBe('true');
    // reserved for the longest recording (300 s: 25 credits) before Deepgram, then settled at 42 s
    const [reserved, refund] = (await ledgerOf(t, pro.id)).slice(-2);
    expect(reserved).toMatchObject({ type: 'deduct', amount: -25, description: 'Transcription', category: 'ai' });
    expect(refund).toMatchObject({ type: 'grant', amount: 20, category: 'ai', operation_ref: `refund:${reserved!.id}` });
  });

  it.each([
    [45, 5],
    [60, 5],
    [90, 10],
    [300, 25],
  ])('%s s costs %s credits', async (seconds, cost) => {
    dg.prerecorded.duration = seconds;
    const res = await transcribe(pro, { audio_url: `${host.origin}/voice.webm` });
    expect(res.body.data).toMatchObject({ duration_seconds: seconds, credits_used: cost, credits_remaining: 55 - cost });
  });

  it('passes a requested language through', async () => {
    const res = await transcribe(pro, { audio_url: `${host.origin}/voice.webm`, language: 'de' });
    expect(res.body.data.language).toBe('de');
    expect(dg.prerecordedRequests.at(-1)!.query.get('language')).toBe('de');
  });

  it('refuses a recording over 300 s with 400, not charged', async () => {
    dg.prerecorded.duration = 301;
    const res = await transcribe(pro, { audio_url: `${host.origin}/voice.webm` });
    expect(res.status).toBe(400);
    expect(res.body.error.details[0].field).toBe('body.audio_url');
    expect((await balanceOf(t, pro.id)).total).toBe(55);
  });

  it('is Pro only: 403 TIER_REQUIRED, nothing downloaded', async () => {
    const free = await signUp(t);
    const before = host.requests.length;
    const res = await transcribe(free, { audio_url: `${host.origin}/voice.webm` });
    expect(res.status).toBe(403);
    expect(res.body.error).toMatchObject({ code: 'TIER_REQUIRED', required_tier: 'pro', current_tier: 'free' });
    expect(host.requests.length).toBe(before);
  });

  it('needs 5 credits to start (402, nothing downloaded), and the cost of the longest recording reserved before Deepgram (402, Deepgram not asked)', async () => {
    const poor = await signUp(t, { tier: 'pro' });
    await giveCredits(t, poor.id, 'purchased', 4);
    dg.prerecorded.duration = 150;
    const asked = dg.prerecordedRequests.length;
    const res = await transcribe(poor, { audio_url: `${host.origin}/voice.webm` });
    expect(res.status).toBe(402);
    expect(res.body.error).toMatchObject({ code: 'INSUFFICIENT_CREDITS', credits_required: 25, credits_available: 9 });
    expect(dg.prerecordedRequests.length).toBe(asked);
    expect((await balanceOf(t, poor.id)).total).toBe(9);

    const broke = await signUp(t, { tier: 'pro' });
    await drainCredits(t, broke.id);
    await giveCredits(t, broke.id, 'purchased', 3);
    const before = host.requests.length;
    const start = await transcribe(broke, { audio_url: `${host.origin}/voice.webm` });
    expect(start.status).toBe(402);
    expect(start.body.error).toMatchObject({ credits_required: 5, credits_available: 3 });
    expect(host.requests.length).toBe(before);
  });

  it('a provider error → 503 TRANSCRIPTION_SERVICE_UNAVAILABLE, nothing charged', async () => {
    dg.prerecorded.fail = 500;
    const res = await transcribe(pro, { audio_url: `${host.origin}/voice.webm` });
    expect(res.status).toBe(503);
    expect(res.body.error.code).toBe('TRANSCRIPTION_SERVICE_UNAVAILABLE');
    expect((await balanceOf(t, pro.id)).total).toBe(55);
  });

  it('a provider that stalls past DEEPGRAM_TIMEOUT_MS → 503, nothing charged', async () => {
    const quick = await startTestApp({ env: { ...deepgramEnv(), TRANSCRIBE_ALLOW_LOOPBACK: 'true', DEEPGRAM_TIMEOUT_MS: '800' } });
    try {
      const u = await signUp(quick, { tier: 'pro' });
      await giveCredits(quick, u.id, 'purchased', 20);
      dg.prerecorded.stall = true;
      const res = await transcribe(u, { audio_url: `${host.origin}/voice.webm` });
      expect(res.status).toBe(503);
      expect(res.body.error.code).toBe('TRANSCRIPTION_SERVICE_UNAVAILABLE');
      expect((await balanceOf(quick, u.id)).total).toBe(25);
    } finally {
      await quick.close();
    }
  });

  it('a missing DEEPGRAM_API_KEY → 503 naming the variable', async () => {
    const bare = await startTestApp();
    try {
      const u = await signUp(bare, { tier: 'pro' });
      const res = await transcribe(u, { audio_url: `${host.origin}/voice.webm` });
      expect(res.status).toBe(503);
      expect(res.body.error.message).toContain('DEEPGRAM_API_KEY');
    } finally {
      await bare.close();
    }
  });

  it.each([
    ['not audio', '/page.html', { body: '<html></html>', contentType: 'text/html' }],
    ['missing', '/missing.webm', null],
    ['empty', '/empty.webm', { body: '', contentType: 'audio/webm' }],
    ['unlabelled bytes that are not audio', '/blob', { body: Buffer.from('just some text'), contentType: 'application/octet-stream' }],
  ])('a download that is %s is a 400 naming body.audio_url', async (_what, path, file) => {
    if (file) host.serve(path, file);
    const res = await transcribe(pro, { audio_url: `${host.origin}${path}` });
    expect(res.status).toBe(400);
    expect(res.body.error.details).toEqual([{ field: 'body.audio_url', message: expect.any(String) }]);
    expect((await balanceOf(t, pro.id)).total).toBe(55);
  });

  it('accepts unlabelled bytes that are recognisably audio', async () => {
    host.serve('/octet', { body: webmBytes(16_000 * 10), contentType: 'application/octet-stream' });
    expect((await transcribe(pro, { audio_url: `${host.origin}/octet` })).status).toBe(200);
  });

  it('follows a redirect to another public (here: allowed loopback) address', async () => {
    host.serve('/moved', { status: 302, location: '/voice.webm' });
    expect((await transcribe(pro, { audio_url: `${host.origin}/moved` })).status).toBe(200);
  });

  it('validates the body: https URL, language tag, no unknown fields', async () => {
    for (const body of [{}, { audio_url: 'not a url' }, { audio_url: `${host.origin}/voice.webm`, language: 'english!' }, { audio_url: `${host.origin}/voice.webm`, duration_seconds: 301 }, { audio_url: `${host.origin}/voice.webm`, bill_me: 1 }]) {
      expect((await transcribe(pro, body)).status, JSON.stringify(body)).toBe(400);
    }
  });
});

describe('SSRF: audio_url is fetched only over https from public addresses', () => {
  it.each([
    ['plain http', 'http://media.example.com/voice.webm'],
    ['a private 10.x address', 'https://10.0.0.1/voice.webm'],
    ['a private 192.168.x address', 'https://192.168.1.10/voice.webm'],
    ['the cloud metadata address', 'https://169.254.169.254/latest/meta-data/'],
    ['loopback (not allowed in production)', 'https://127.0.0.1:1/voice.webm'],
    ['IPv6 loopback', 'https://[::1]:1/voice.webm'],
    ['IPv4-mapped IPv6 loopback', 'https://[::ffff:127.0.0.1]:1/voice.webm'],
    ['IPv6 link-local', 'https://[fe80::1]/voice.webm'],
    ['IPv4-translated loopback', 'https://[::ffff:0:7f00:1]/voice.webm'],
    ['a NAT64 address', 'https://[64:ff9b::a9fe:a9fe]/voice.webm'],
    ['IPv6 documentation (3fff::/20)', 'https://[3fff::1]/voice.webm'],
    ['an SRv6 SID', 'https://[5f00::1]/voice.webm'],
    ['IPv6 unique-local', 'https://[fd00::1]/voice.webm'],
    ['0.0.0.0', 'https://0.0.0.0/voice.webm'],
    ['a decimal-encoded loopback', 'https://2130706433/voice.webm'],
    ['credentials in the URL', 'https://user:pass@media.example.com/voice.webm'],
  ])('refuses %s with 400 naming body.audio_url', async (_what, url) => {
    const u = await signUp(strict, { tier: 'pro' });
    const res = await transcribe(u, { audio_url: url });
    expect(res.status).toBe(400);
    expect(res.body.error.details.map((d: { field: string }) => d.field)).toContain('body.audio_url');
    // refused for what the address is, before any connection is tried
    if (/^https:\/\/\[/.test(url)) expect(res.body.error.details[0].message).toMatch(/not (a )?public/);
    expect((await balanceOf(strict, u.id)).total).toBe(5);
  });

  it('refuses a host name that resolves to loopback (localhost), without connecting', async () => {
    const u = await signUp(strict, { tier: 'pro' });
    const before = host.requests.length;
    const res = await transcribe(u, { audio_url: `https://localhost:${host.port}/voice.webm` });
    expect(res.status).toBe(400);
    expect(res.body.error.details[0].message).toMatch(/not (a )?public/);
    expect(host.requests.length).toBe(before);
  });

  it.each([
    ['a private address', 'https://10.0.0.1/voice.webm'],
    ['the metadata address', 'https://169.254.169.254/latest/meta-data/iam'],
    ['plain http', 'http://media.example.com/voice.webm'],
  ])('refuses a redirect to %s', async (_what, location) => {
    const path = `/redirect-${Math.random().toString(36).slice(2)}`;
    host.serve(path, { status: 302, location });
    const res = await transcribe(pro, { audio_url: `${host.origin}${path}` });
    expect(res.status).toBe(400);
    expect(res.body.error.details[0].field).toBe('body.audio_url');
    expect((await balanceOf(t, pro.id)).total).toBe(55);
  });

  it('refuses endless redirects', async () => {
    host.serve('/loop', { status: 302, location: '/loop' });
    const res = await transcribe(pro, { audio_url: `${host.origin}/loop` });
    expect(res.status).toBe(400);
    expect(res.body.error.details[0].message).toMatch(/redirects/);
  });

  it('refuses a certificate it does not trust', async () => {
    const untrusting = await startTestApp({ env: { DEEPGRAM_API_KEY: dg.apiKey, DEEPGRAM_URL: dg.baseUrl, TRANSCRIBE_ALLOW_LOOPBACK: 'true' } });
    try {
      const u = await signUp(untrusting, { tier: 'pro' });
      const res = await transcribe(u, { audio_url: `${host.origin}/voice.webm` });
      expect(res.status).toBe(400);
    } finally {
      await untrusting.close();
    }
  });
});

describe('downloadAudio (DNS answers from a resolver the test controls)', () => {
  const resolver = (answers: Record<string, string[]>): LookupAll => async (name) => (answers[name] ?? []).map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));
  const opts = (lookup: LookupAll) => ({ allowLoopback: false, maxBytes: 1_000_000, timeoutMs: 2000, lookup });

  it.each([
    ['a private address', ['10.1.2.3']],
    ['a public and a private address', ['93.184.216.34', '192.168.0.5']],
    ['the metadata address', ['169.254.169.254']],
    ['an IPv6 unique-local address', ['fd12:3456::1']],
    ['an IPv4-mapped private address', ['::ffff:10.0.0.1']],
    ['an IPv4-translated loopback address (::ffff:0:0:0/96)', ['::ffff:0:7f00:1']],
    ['a NAT64 address (64:ff9b::/96)', ['64:ff9b::808:808']],
    ['a documentation address (3fff::/20)', ['3fff:123::1']],
    ['an SRv6 SID (5f00::/16)', ['5f00:1::1']],
    ['a documentation address (2001:db8::/32)', ['2001:db8::1']],
  ])('refuses a host name that resolves to %s', async (_what, addresses) => {
    await expect(downloadAudio('https://audio.attacker.example/voice.webm', opts(resolver({ 'audio.attacker.example': addresses })))).rejects.toThrow(/not public/);
  });

  it('refuses a name that does not resolve', async () => {
    await expect(downloadAudio('https://nowhere.example/voice.webm', opts(resolver({})))).rejects.toThrow(/does not resolve/);
  });

  it('classifies addresses', () => {
    for (const a of ['8.8.8.8', '93.184.216.34', '2606:4700:4700::1111', '::ffff:8.8.8.8']) expect(isPublicAddress(a), a).toBe(true);
    for (const a of ['127.0.0.1', '10.0.0.1', '172.16.5.4', '192.168.1.1', '169.254.169.254', '100.64.0.1', '0.0.0.0', '224.0.0.1', '255.255.255.255', '::1', '::', 'fe80::1', 'fc00::1', '::ffff:7f00:1', '64:ff9b::a00:1', 'not-an-ip']) {
      expect(isPublicAddress(a), a).toBe(false);
    }
    // IPv4-mapped addresses are judged by the IPv4 address they embed, however they are written.
    for (const a of ['::ffff:8.8.8.8', '::FFFF:808:808', '0:0:0:0:0:ffff:808:808', '0000:0000:0000:0000:0000:ffff:8.8.8.8']) expect(isPublicAddress(a), a).toBe(true);
    for (const a of ['0:0:0:0:0:ffff:7f00:1', '::ffff:a9fe:a9fe', '0::ffff:10.0.0.1']) expect(isPublicAddress(a), a).toBe(false);
    // Not the public internet: IPv4-translated (embedding any IPv4, public or not), NAT64 well-known
    // prefix, documentation (3fff::/20, 2001:db8::/32), SRv6 SIDs (5f00::/16).
    for (const a of ['::ffff:0:7f00:1', '::ffff:0:808:808', '0:0:0:0:ffff:0:a00:1', '64:ff9b::808:808', '64:ff9b::8.8.8.8', '3fff::1', '3fff:fff:ffff::1', '5f00::1', '5f00:ffff::1', '2001:db8::1', '2001:db8:ffff::1']) {
      expect(isPublicAddress(a), a).toBe(false);
    }
    for (const a of ['3ffe:ffff::1', '4000::1', '5f01::1', '2001:db9::1']) expect(isPublicAddress(a), a).toBe(true);
    expect(isPublicAddress('127.0.0.1', true)).toBe(true);
    expect(isPublicAddress('::1', true)).toBe(true);
    expect(isPublicAddress('0:0:0:0:0:0:0:1', true)).toBe(true);
    expect(isPublicAddress('::ffff:127.0.0.1', true)).toBe(true);
    expect(isPublicAddress('::ffff:0:7f00:1', true)).toBe(false);
    expect(isPublicAddress('10.0.0.1', true)).toBe(false);
  });
});
