import ICAL from 'ical.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { foldLine, vtimezone } from '../../src/domain/calendar/icalendar.js';
import http from 'node:http';
import { logCapture, startTestApp, type TestApp } from '../helpers/app.js';
import { snapshotDatabase, diffSnapshots } from '../helpers/db-snapshot.js';
import { signUp, type TestUser } from '../helpers/users.js';
import { newTask } from '../tasks/fixtures.js';

// The calendar feed: a secret URL per user (made, rotated, revoked through the API), serving an
// RFC 5545 calendar that an iCalendar parser (ical.js, as calendar clients use) reads back: events
// for open tasks with due dates, recurring events with their RRULE and VTIMEZONE for templates.

let t: TestApp;
let ada: TestUser;
let bob: TestUser;

beforeAll(async () => {
  t = await startTestApp();
  [ada, bob] = await Promise.all([signUp(t, { name: 'Ada' }), signUp(t, { name: 'Bob' })]);
});
afterAll(() => t?.close());

/** The path of a feed URL, relative to the API (what the test client takes). */
const pathOf = (url: string) => new URL(url).pathname;
const tokenOf = (url: string) => /\/calendar\/([^/]+)\.ics$/.exec(new URL(url).pathname)![1]!;

async function makeFeed(u: TestUser): Promise<string> {
  const res = await u.api.post('/calendar/feed');
  expect(res.status, res.text).toBe(201);
  return res.body.data.url as string;
}

async function fetchFeed(url: string, headers: Record<string, string> = {}) {
  return t.api.get(pathOf(url), { token: null, headers });
}

/** Parses the feed as a calendar client would, registering its time zones. */
function parse(text: string) {
  const root = new ICAL.Component(ICAL.parse(text));
  for (const tz of root.getAllSubcomponents('vtimezone')) ICAL.TimezoneService.register(new ICAL.Timezone(tz));
  const events = root.getAllSubcomponents('vevent').map((c) => new ICAL.Event(c));
  return { root, events, byUid: (uid: string) => events.find((e) => e.uid === uid) };
}

describe('the feed URL: create, status, rotate, revoke', () => {
  it('shows the URL once, stores only a hash, and reports the state without it', async () => {
    const u = await signUp(t);
    expect((await u.api.get('/calendar/feed')).body.data).toEqual({ active: false, url: null, webcal_url: null, created_at: null, last_fetched_at: null });

    const res = await u.api.post('/calendar/feed');
    expect(res.status).toBe(201);
    const feed = res.body.data;
    expect(feed).toMatchObject({ active: true, url: expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+\/api\/v1\/calendar\/pfcal_[A-Za-z0-9_-]{43}\.ics$/), last_fetched_at: null });
    expect(feed.webcal_url).toBe(feed.url.replace(/^http:/, 'webcal:'));
    const token = tokenOf(feed.url);
    // Neither the feed table nor the idempotency store holds the secret.
    const row = await t.db.selectFrom('calendar_feeds').selectAll().where('user_id', '=', u.id).executeTakeFirstOrThrow();
    expect(row.token_hash).toMatch(/^[0-9a-f]{64}$/);
    expect(JSON.stringify(row)).not.toContain(token);
    const stored = await t.db.selectFrom('idempotency_keys').select('response_body').where('user_id', '=', u.id).execute();
    expect(stored.length).toBeGreaterThan(0);
    expect(JSON.stringify(stored)).not.toContain(token);

    const fetched = await fetchFeed(feed.url);
    expect(fetched.status).toBe(200);
    const status = (await u.api.get('/calendar/feed')).body.data;
    expect(status).toMatchObject({ active: true, url: null, webcal_url: null, created_at: feed.created_at });
    expect(Date.parse(status.last_fetched_at)).toBeGreaterThan(Date.parse(feed.created_at) - 1000);
  });

  it('an idempotent replay answers the same without the secret', async () => {
    const u = await signUp(t);
    const first = await u.api.post('/calendar/feed', undefined, { idempotencyKey: 'feed-once' });
    const again = await u.api.post('/calendar/feed', undefined, { idempotencyKey: 'feed-once' });
    expect(again.status).toBe(201);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(again.body.data).toEqual({ ...first.body.data, url: null, webcal_url: null });
    // The replay made no new secret: the first URL still works.
    expect((await fetchFeed(first.body.data.url)).status).toBe(200);
  });

  it('rotating makes a new secret and the old URL answers 404 at once', async () => {
    const u = await signUp(t);
    const old = await makeFeed(u);
    expect((await fetchFeed(old)).status).toBe(200);
    const rotated = await makeFeed(u);
    expect(rotated).not.toBe(old);
    const gone = await fetchFeed(old);
    expect(gone.status).toBe(404);
    expect(gone.body.error).toMatchObject({ code: 'NOT_FOUND', request_id: gone.headers.get('x-request-id') });
    expect((await fetchFeed(rotated)).status).toBe(200);
  });

  it('revoking stops the URL; a second revoke is a 404; a new feed works again', async () => {
    const u = await signUp(t);
    const url = await makeFeed(u);
    const res = await u.api.delete('/calendar/feed');
    expect(res.status).toBe(200);
    expect(res.body.data).toEqual({ active: false, url: null, webcal_url: null, created_at: null, last_fetched_at: null });
    expect((await fetchFeed(url)).status).toBe(404);
    expect((await u.api.get('/calendar/feed')).body.data.active).toBe(false);
    expect((await u.api.delete('/calendar/feed')).status).toBe(404);
    expect((await fetchFeed(await makeFeed(u))).status).toBe(200);
  });

  it('an unknown or malformed secret is a 404 like any other, and changes nothing', async () => {
    const before = await snapshotDatabase(t);
    for (const token of ['pfcal_' + 'A'.repeat(43), 'not-a-token', 'x'.repeat(200), '%00']) {
      const res = await t.api.get(`/calendar/${token}.ics`);
      expect(res.status, token).toBe(404);
      expect(res.body.error.code).toBe('NOT_FOUND');
    }
    expect(diffSnapshots(before, await snapshotDatabase(t))).toEqual({});
  });

  it('the management operations need a bearer token; the feed itself needs none', async () => {
    expect((await t.api.get('/calendar/feed')).status).toBe(401);
    expect((await t.api.post('/calendar/feed')).status).toBe(401);
    expect((await t.api.delete('/calendar/feed')).status).toBe(401);
  });
});

describe('what leaves the server with a feed', () => {
  it('never writes the secret to the log or the metrics: the log line names the feed as pfcal_…', async () => {
    const logs = logCapture();
    const own = await startTestApp({ env: { LOG_LEVEL: 'info' }, logTo: logs });
    try {
      const u = await signUp(own);
      const created = await u.api.post('/calendar/feed');
      expect(created.status).toBe(201);
      const url = created.body.data.url as string;
      const token = tokenOf(url);
      const first = await own.api.get(pathOf(url), { token: null });
      expect(first.status).toBe(200);
      expect((await own.api.get(pathOf(url), { token: null, headers: { 'if-none-match': first.headers.get('etag')! } })).status).toBe(304);
      expect((await own.api.get(`${pathOf(url)}/`, { token: null })).status).toBe(200);
      expect((await own.api.request('POST', pathOf(url), { token: null, unchecked: true })).status).toBe(405);
      expect((await own.api.get(`/calendar/${token.slice(0, -1)}x.ics`, { token: null })).status).toBe(404);
      const metrics = await (await fetch(`${own.baseUrl}/metrics`)).text();

      const secret = token.slice('pfcal_'.length);
      const feedLines = logs.entries().filter((e) => e.operation === 'getCalendarFeedIcs');
      expect(feedLines.length).toBeGreaterThanOrEqual(4);
      for (const line of feedLines) expect(line.path).toMatch(/^\/api\/v1\/calendar\/pfcal_…\.ics\/?$/);
      for (const text of [...logs.lines, metrics]) expect(text).not.toContain(secret.slice(0, 16));
    } finally {
      await own.close();
    }
  });

  it('builds the URL from PUBLIC_API_URL, never from the request\'s Host header', async () => {
    const evilHost = 'evil.example/"><script>alert(1)</script>';
    /** POST /calendar/feed with a Host header of the caller's choosing (fetch sets its own). */
    const postWithHost = (baseUrl: string, token: string, host: string) =>
      new Promise<{ status: number; body: any }>((resolve, reject) => {
        const { port } = new URL(baseUrl);
        const req = http.request({ host: '127.0.0.1', port, method: 'POST', path: '/api/v1/calendar/feed', setHost: false, headers: { host, authorization: `Bearer ${token}`, 'idempotency-key': crypto.randomUUID() } }, (res) => {
          let text = '';
          res.on('data', (d) => (text += d));
          res.on('end', () => resolve({ status: res.statusCode!, body: JSON.parse(text) }));
        });
        req.on('error', reject);
        req.end();
      });

    const u = await signUp(t);
    const dev = await postWithHost(t.baseUrl, u.token, evilHost);
    expect(dev.status).toBe(201);
    expect(dev.body.data.url).toMatch(/^http:\/\/127\.0\.0\.1:8000\/api\/v1\/calendar\/pfcal_[A-Za-z0-9_-]{43}\.ics$/);

    const configured = await startTestApp({ env: { PUBLIC_API_URL: 'https://api.example.com/api/v1/' } });
    try {
      const v = await signUp(configured);
      const res = await postWithHost(configured.baseUrl, v.token, evilHost);
      expect(res.status).toBe(201);
      expect(res.body.data.url).toMatch(/^https:\/\/api\.example\.com\/api\/v1\/calendar\/pfcal_[A-Za-z0-9_-]{43}\.ics$/);
      expect(res.body.data.webcal_url).toBe(res.body.data.url.replace(/^https:/, 'webcal:'));
    } finally {
      await configured.close();
    }
  });

  it('is never stored by a shared cache, and its management answers are not stored at all', async () => {
    const u = await signUp(t);
    const created = await u.api.post('/calendar/feed');
    expect(created.headers.get('cache-control')).toBe('no-store');
    expect(created.headers.get('vary')).toMatch(/\bAuthorization\b/);
    const feed = await fetchFeed(created.body.data.url);
    expect(feed.headers.get('cache-control')).toBe('private, no-cache');
    const missing = await t.api.get('/calendar/pfcal_nothing.ics');
    expect(missing.status).toBe(404);
    expect(missing.headers.get('cache-control')).toBe('no-store');
  });
});

describe('the feed as a calendar client reads it', () => {
  let url: string;
  let due: Record<string, any>;
  let template: any;

  beforeAll(async () => {
    expect((await ada.api.patch('/users/me', { timezone: 'Europe/Berlin' })).status).toBe(200);
    const soon = (h: number) => new Date(Date.now() + h * 3_600_000).toISOString();
    due = {
      plain: await newTask(ada, { title: 'Prepare the quarterly report', due_date: soon(5), estimated_duration: 90, priority: 'high' }),
      tricky: await newTask(ada, { title: 'Call Anna, Ben; then "Chris" \\ done', description: 'Line one\nLine two, with a comma; and a semicolon', due_date: soon(6) }),
      long: await newTask(ada, { title: `Résumé ✓ ${'été 🌞 '.repeat(30)}`.trim().slice(0, 200), due_date: soon(7) }),
      completed: await newTask(ada, { title: 'Already done', due_date: soon(8) }),
      hidden: await newTask(ada, { title: 'Hidden one', due_date: soon(9) }),
      archived: await newTask(ada, { title: 'Archived one', due_date: soon(10) }),
      deleted: await newTask(ada, { title: 'Deleted one', due_date: soon(11) }),
      undated: await newTask(ada, { title: 'No due date' }),
    };
    expect((await ada.api.patch(`/tasks/${due.completed.id}`, { completed: true })).status).toBe(200);
    expect((await ada.api.patch(`/tasks/${due.hidden.id}`, { hidden: true })).status).toBe(200);
    expect((await ada.api.patch(`/tasks/${due.archived.id}`, { version: 1, archived: true })).status).toBe(200);
    expect((await ada.api.delete(`/tasks/${due.deleted.id}`)).status).toBe(200);
    const created = await ada.api.post('/templates', { title: 'Weekly review, team; planning', rrule: 'FREQ=WEEKLY;BYDAY=MO;UNTIL=20270301T000000Z', starts_at: '2026-03-02T09:00:00+01:00', estimated_duration: 45 });
    expect(created.status, created.text).toBe(201);
    template = created.body.data;
    const paused = await ada.api.post('/templates', { title: 'Paused series', rrule: 'FREQ=DAILY' });
    expect((await ada.api.patch(`/templates/${paused.body.data.id}`, { active: false })).status).toBe(200);
    await newTask(bob, { title: "Bob's secret plan", due_date: soon(3) });
    await bob.api.post('/templates', { title: "Bob's routine", rrule: 'FREQ=DAILY' });
    url = await makeFeed(ada);
  });

  it('is text/calendar with CRLF line endings, lines of at most 75 octets, and cache headers', async () => {
    const res = await fetchFeed(url);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/calendar; charset=utf-8');
    expect(res.headers.get('cache-control')).toBe('private, no-cache');
    expect(res.headers.get('etag')).toMatch(/^"[A-Za-z0-9_-]+"$/);
    const raw = Buffer.from(await (await fetch(new URL(pathOf(url), t.baseUrl))).arrayBuffer());
    const text = raw.toString('utf8');
    expect(text.endsWith('\r\n')).toBe(true);
    expect(text.replace(/\r\n/g, '')).not.toMatch(/[\r\n]/);
    for (const line of text.split('\r\n')) expect(Buffer.byteLength(line, 'utf8'), line).toBeLessThanOrEqual(75);
    // A folded line continues with one space and never splits a UTF-8 character.
    expect(text).toMatch(/\r\n [^\r]/);
    expect(text).not.toContain('\uFFFD');
  });

  it('answers 304 to If-None-Match with the current ETag, and 200 again once something changed', async () => {
    const first = await fetchFeed(url);
    const tag = first.headers.get('etag')!;
    const same = await fetchFeed(url, { 'if-none-match': tag });
    expect(same.status).toBe(304);
    expect(same.text).toBe('');
    const task = await newTask(ada, { title: 'Something new', due_date: new Date(Date.now() + 86_400_000).toISOString() });
    const changed = await fetchFeed(url, { 'if-none-match': tag });
    expect(changed.status).toBe(200);
    expect(changed.headers.get('etag')).not.toBe(tag);
    expect(changed.text).toContain(`task-${task.id}@perpetua-flow`);
  });

  it('has one event per open task with a due date, at its due time, with stable UIDs', async () => {
    const { events, byUid } = parse((await fetchFeed(url)).text);
    const uids = events.map((e) => e.uid);
    expect(new Set(uids).size).toBe(uids.length);
    for (const k of ['plain', 'tricky', 'long']) expect(uids, k).toContain(`task-${due[k].id}@perpetua-flow`);
    for (const k of ['completed', 'hidden', 'archived', 'deleted', 'undated']) expect(uids, k).not.toContain(`task-${due[k].id}@perpetua-flow`);

    const plain = byUid(`task-${due.plain.id}@perpetua-flow`)!;
    expect(plain.summary).toBe('Prepare the quarterly report');
    // iCalendar times have whole seconds.
    expect(plain.startDate.toJSDate().getTime()).toBe(Math.floor(Date.parse(due.plain.due_date) / 1000) * 1000);
    expect(plain.startDate.zone?.tzid).toBe('UTC');
    expect(plain.endDate.toJSDate().getTime() - plain.startDate.toJSDate().getTime()).toBe(90 * 60_000);
    expect(plain.component.getFirstPropertyValue('priority')).toBe(1);
    expect(plain.component.getFirstPropertyValue('dtstamp')).toBeTruthy();
    // Without an estimate the event lasts 30 minutes.
    const tricky = byUid(`task-${due.tricky.id}@perpetua-flow`)!;
    expect(tricky.endDate.toJSDate().getTime() - tricky.startDate.toJSDate().getTime()).toBe(30 * 60_000);

    // The same UIDs on the next fetch.
    const again = parse((await fetchFeed(url)).text).events.map((e) => e.uid);
    expect(again).toEqual(uids);
  });

  it('escapes commas, semicolons, backslashes and line breaks so titles come back exactly', async () => {
    const text = (await fetchFeed(url)).text;
    expect(text).toContain('SUMMARY:Call Anna\\, Ben\\; then "Chris" \\\\ done');
    const { byUid } = parse(text);
    const tricky = byUid(`task-${due.tricky.id}@perpetua-flow`)!;
    expect(tricky.summary).toBe('Call Anna, Ben; then "Chris" \\ done');
    expect(tricky.description).toBe('Line one\nLine two, with a comma; and a semicolon');
    expect(byUid(`task-${due.long.id}@perpetua-flow`)!.summary).toBe(due.long.title);
    expect(byUid(`template-${template.id}@perpetua-flow`)!.summary).toBe('Weekly review, team; planning');
  });

  it('has the active template as one recurring event on the user\'s wall clock, with its RRULE and VTIMEZONE', async () => {
    const { root, events, byUid } = parse((await fetchFeed(url)).text);
    expect(events.filter((e) => e.uid.startsWith('template-'))).toHaveLength(1);
    const series = byUid(`template-${template.id}@perpetua-flow`)!;
    expect(series.isRecurring()).toBe(true);
    expect(series.startDate.zone?.tzid).toBe('Europe/Berlin');
    expect(series.startDate.toString()).toBe('2026-03-02T09:00:00');
    expect(series.startDate.toJSDate().toISOString()).toBe('2026-03-02T08:00:00.000Z');
    expect(series.duration.toSeconds()).toBe(45 * 60);
    const rrule = series.component.getFirstPropertyValue('rrule') as ICAL.Recur;
    expect(rrule.freq).toBe('WEEKLY');
    expect(rrule.getComponent('byday')).toEqual(['MO']);
    expect(rrule.until?.toJSDate().toISOString()).toBe('2027-02-28T23:00:00.000Z'); // 00:00 on Berlin's wall clock
    expect(root.getAllSubcomponents('vtimezone').map((z) => z.getFirstPropertyValue('tzid'))).toEqual(['Europe/Berlin']);

    // Occurrences stay at 09:00 Berlin time across the change to summer time (2026-03-29).
    const it = series.iterator();
    const occurrences: string[] = [];
    for (let next = it.next(); next && occurrences.length < 6; next = it.next()) occurrences.push(next.toJSDate().toISOString());
    expect(occurrences).toEqual(['2026-03-02T08:00:00.000Z', '2026-03-09T08:00:00.000Z', '2026-03-16T08:00:00.000Z', '2026-03-23T08:00:00.000Z', '2026-03-30T07:00:00.000Z', '2026-04-06T07:00:00.000Z']);
    // And end with the rule (the last Monday before 2027-03-01 00:00 in Berlin).
    let last: ICAL.Time | null = null;
    const all = series.iterator();
    for (let next = all.next(); next; next = all.next()) last = next;
    expect(last!.toJSDate().toISOString()).toBe('2027-02-22T08:00:00.000Z');
  });

  it('does not repeat the open instances of an active template as task events', async () => {
    const { events } = parse((await fetchFeed(url)).text);
    const instances = await t.db.selectFrom('task_instances').select('id').where('template_id', '=', template.id).execute();
    expect(instances.length).toBeGreaterThan(0);
    for (const i of instances) expect(events.map((e) => e.uid)).not.toContain(`task-${i.id}@perpetua-flow`);
  });

  it('never shows another user\'s tasks or templates', async () => {
    const text = (await fetchFeed(url)).text;
    expect(text).not.toContain("Bob's");
    const bobsUrl = await makeFeed(bob);
    const bobs = (await fetchFeed(bobsUrl)).text;
    expect(bobs).toContain("Bob's secret plan");
    expect(bobs).not.toContain('quarterly report');
    const adaIds = (await t.db.selectFrom('task_instances').select('id').where('user_id', '=', ada.id).execute()).map((r) => r.id);
    for (const id of adaIds) expect(bobs).not.toContain(id);
  });

  it('follows the user\'s time zone: a template in New York keeps 09:00 across both changes', async () => {
    const u = await signUp(t);
    expect((await u.api.patch('/users/me', { timezone: 'America/New_York' })).status).toBe(200);
    const tpl = (await u.api.post('/templates', { title: 'Stand-up', rrule: 'FREQ=DAILY;COUNT=400', starts_at: '2026-03-01T09:00:00-05:00' })).body.data;
    const { byUid } = parse((await fetchFeed(await makeFeed(u))).text);
    const series = byUid(`template-${tpl.id}@perpetua-flow`)!;
    const it = series.iterator();
    const hours = new Set<string>();
    for (let next = it.next(); next; next = it.next()) {
      const d = next.toJSDate();
      hours.add(new Intl.DateTimeFormat('en-US', { timeZone: 'America/New_York', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }).format(d));
    }
    expect([...hours]).toEqual(['09:00']);
  });
});

describe('VTIMEZONE built from the zone rules', () => {
  const zones = ['Europe/Berlin', 'America/New_York', 'Australia/Sydney', 'Asia/Kathmandu', 'Pacific/Chatham', 'America/Sao_Paulo', 'Africa/Casablanca', 'UTC'];
  const formats = new Map<string, Intl.DateTimeFormat>();
  const offsetOf = (d: Date, zone: string) => {
    if (!formats.has(zone)) formats.set(zone, new Intl.DateTimeFormat('en-US', { timeZone: zone, timeZoneName: 'longOffset' }));
    const name = formats.get(zone)!.formatToParts(d).find((p) => p.type === 'timeZoneName')!.value;
    const m = /GMT(?:([+-])(\d{2}):(\d{2}))?/.exec(name)!;
    return m[1] ? (m[1] === '-' ? -1 : 1) * (Number(m[2]) * 60 + Number(m[3])) : 0;
  };

  for (const zone of zones) {
    it(`${zone}: ical.js turns wall-clock times into the same instants as the runtime's zone data, then and years later`, () => {
      const text = ['BEGIN:VCALENDAR', 'VERSION:2.0', 'PRODID:-//test//EN', ...vtimezone(zone, 2019), 'END:VCALENDAR', ''].join('\r\n');
      const tz = new ICAL.Timezone(new ICAL.Component(ICAL.parse(text)).getFirstSubcomponent('vtimezone')!);
      // Every ~5 days from 2019 to 2032 (beyond the listed years the yearly rules carry on).
      for (let ms = Date.UTC(2019, 0, 3); ms < Date.UTC(2032, 0, 1); ms += 3 * 86_400_000 + 3_600_000) {
        const d = new Date(ms);
        if (zone === 'Africa/Casablanca' && d.getUTCFullYear() > new Date().getUTCFullYear() + 2) continue; // follows Ramadan: no yearly rule
        // What a client does with DTSTART;TZID=…: a wall-clock time in the zone to an instant. (The
        // hours next to a change are left out: a repeated wall-clock hour names two instants.)
        const hour = 3_600_000;
        if (offsetOf(new Date(ms - 3 * hour), zone) !== offsetOf(new Date(ms + 3 * hour), zone)) continue;
        const wall = new Date(ms + offsetOf(d, zone) * 60_000);
        const local = new ICAL.Time({ year: wall.getUTCFullYear(), month: wall.getUTCMonth() + 1, day: wall.getUTCDate(), hour: wall.getUTCHours(), minute: wall.getUTCMinutes(), second: 0, isDate: false }, tz);
        expect(local.toJSDate().toISOString(), `${zone} at ${local.toString()}`).toBe(d.toISOString());
      }
    });
  }
});

describe('line folding', () => {
  it('folds at 75 octets without splitting a character', () => {
    const line = `SUMMARY:${'é'.repeat(100)}`;
    const folded = foldLine(line).split('\r\n');
    for (const l of folded) expect(Buffer.byteLength(l)).toBeLessThanOrEqual(75);
    expect(folded.slice(1).every((l) => l.startsWith(' '))).toBe(true);
    expect(folded.map((l, i) => (i ? l.slice(1) : l)).join('')).toBe(line);
  });
});
