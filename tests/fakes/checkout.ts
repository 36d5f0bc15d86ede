import { createHmac, randomBytes } from 'node:crypto';
import http from 'node:http';

/**
 * Checkout.com's side of payments, on 127.0.0.1, in its wire format
 * (https://api-reference.checkout.com): `POST /hosted-payments` (a hosted payment page),
 * `POST /payments` (charging a stored source; answers as told), both with `Cko-Idempotency-Key`,
 * `GET /payments/{id}` (the payment's status), and webhook deliveries signed like Checkout.com's
 * (`Cko-Signature`: hex HMAC-SHA256 of the raw body). Every payment decision queues the webhook
 * event Checkout.com would send; the test delivers it when it wants, with the time it wants as
 * `created_on`.
 */

/**
 * What `POST /payments` does with a charge:
 * * `approve`: authorised (201 `Authorized`, as Checkout.com answers for cards) and, as with
 *   `capture: true`, captured at once: `GET` says `Captured` and `payment_captured` is queued;
 * * `authorize`: authorised only (`payment_approved` queued); captured when the test calls `capture()`;
 * * `decline`: 201 `Declined`, `payment_declined` queued;  `pending`: 202 `Pending`, nothing queued;
 * * `unavailable`: 503;  `rate_limited`: 429;  `invalid`: 422 `request_invalid` (no payment made).
 */
export type ChargeOutcome = 'approve' | 'authorize' | 'decline' | 'pending' | 'unavailable' | 'rate_limited' | 'invalid';

export interface RecordedRequest {
  method: string;
  path: string;
  headers: http.IncomingHttpHeaders;
  body: any;
}

export interface HostedPage {
  id: string;
  url: string;
  request: any;
}

export interface WebhookEvent {
  id: string;
  type: string;
  created_on: string;
  data: Record<string, any>;
}

export interface Delivery {
  status: number;
  body: any;
}

/** Sends a signed delivery to our server: raw bytes and headers in, status and parsed body out. */
export type WebhookSender = (rawBody: string, headers: Record<string, string>) => Promise<Delivery>;

export interface FakeCheckout {
  /** CHECKOUT_API_URL */
  url: string;
  secretKey: string;
  webhookSecret: string;
  requests: RecordedRequest[];
  hostedPages: Map<string, HostedPage>;
  /** What the next `POST /payments` answers; then `chargeOutcome` again. */
  nextCharges: ChargeOutcome[];
  /**
   * What the next charges for one user (`metadata.user_id`) answer, before `nextCharges`: tests
   * whose hourly job also charges other users' renewals keep their outcomes to themselves.
   */
  nextChargesFor(userId: string, ...outcomes: ChargeOutcome[]): void;
  chargeOutcome: ChargeOutcome;
  /** Events waiting to be delivered, oldest first. */
  outbox: WebhookEvent[];
  /** Payments made through `POST /payments`, by id, with their current status. */
  payments: Map<string, { status: string; body: any }>;
  /** Captures an `authorize`d payment now; returns (and queues) its `payment_captured` event. */
  capture(paymentId: string): WebhookEvent;
  /** Drops queued events (e.g. "the webhook never arrives"); returns them. */
  discard(predicate: (event: WebhookEvent) => boolean): WebhookEvent[];
  /** Where webhooks go (set by the test, through the contract-checking client). */
  sender?: WebhookSender;
  sign(rawBody: string | Buffer, secret?: string): string;
  event(type: string, data: Record<string, any>, createdOn?: Date): WebhookEvent;
  /** Delivers one event, signed (or with the given signature), exactly as bytes. */
  deliver(event: WebhookEvent, opts?: { signature?: string | null }): Promise<Delivery>;
  /** The customer pays (or fails to pay) at a hosted page; the resulting event is delivered at once. */
  payHostedPage(pageId: string, opts?: { outcome?: 'captured' | 'declined'; sourceId?: string; createdOn?: Date }): Promise<{ event: WebhookEvent; delivery: Delivery }>;
  /** Delivers every queued event, in order, optionally dated `createdOn`. */
  flush(opts?: { createdOn?: Date }): Promise<Array<{ event: WebhookEvent; delivery: Delivery }>>;
  chargesTo(path?: string): RecordedRequest[];
  close(): Promise<void>;
}

const id = (prefix: string) => `${prefix}_${randomBytes(13).toString('hex')}`;

export async function startFakeCheckout(opts: { secretKey?: string; webhookSecret?: string } = {}): Promise<FakeCheckout> {
  const secretKey = opts.secretKey ?? 'sk_sbox_test_fake_checkout';
  const webhookSecret = opts.webhookSecret ?? 'whsec_test_fake_checkout';
  const idempotent = new Map<string, { status: number; body: any }>();
  const byUser = new Map<string, ChargeOutcome[]>();

  const fake: FakeCheckout = {
    url: '',
    secretKey,
    webhookSecret,
    requests: [],
    hostedPages: new Map(),
    nextCharges: [],
    nextChargesFor: (userId, ...outcomes) => void byUser.set(userId, [...(byUser.get(userId) ?? []), ...outcomes]),
    chargeOutcome: 'approve',
    outbox: [],
    payments: new Map(),
    capture(paymentId) {
      const payment = fake.payments.get(paymentId);
      if (!payment || payment.status !== 'Authorized') throw new Error(`payment ${paymentId} is not awaiting capture`);
      payment.status = 'Captured';
      const event = fake.event('payment_captured', payment.body);
      fake.outbox.push(event);
      return event;
    },
    discard(predicate) {
      const dropped = fake.outbox.filter(predicate);
      fake.outbox = fake.outbox.filter((e) => !predicate(e));
      return dropped;
    },
    sign: (rawBody, secret = webhookSecret) => createHmac('sha256', secret).update(rawBody).digest('hex'),
    event: (type, data, createdOn = new Date()) => ({ id: id('evt'), type, created_on: createdOn.toISOString(), data }),
    async deliver(event, o = {}) {
      if (!fake.sender) throw new Error('FakeCheckout.sender is not set');
      const rawBody = JSON.stringify(event);
      const headers: Record<string, string> = { 'content-type': 'application/json' };
      const signature = o.signature === undefined ? fake.sign(rawBody) : o.signature;
      if (signature !== null) headers['cko-signature'] = signature;
      return fake.sender(rawBody, headers);
    },
    async payHostedPage(pageId, o = {}) {
      const page = fake.hostedPages.get(pageId);
      if (!page) throw new Error(`no hosted page ${pageId}`);
      const captured = (o.outcome ?? 'captured') === 'captured';
      const event = fake.event(
        captured ? 'payment_captured' : 'payment_declined',
        {
          id: id('pay'),
          amount: page.request.amount,
          currency: page.request.currency,
          reference: page.request.reference,
          metadata: page.request.metadata,
          ...(captured
            ? { source: { id: o.sourceId ?? id('src'), type: 'card', last4: '4242' }, customer: { id: id('cus'), email: page.request.customer?.email } }
            : { response_code: '20051', response_summary: 'Insufficient Funds' }),
        },
        o.createdOn,
      );
      return { event, delivery: await fake.deliver(event) };
    },
    async flush(o = {}) {
      const out: Array<{ event: WebhookEvent; delivery: Delivery }> = [];
      while (fake.outbox.length) {
        const queued = fake.outbox.shift()!;
        const event = o.createdOn ? { ...queued, created_on: o.createdOn.toISOString() } : queued;
        out.push({ event, delivery: await fake.deliver(event) });
      }
      return out;
    },
    chargesTo: (path = '/payments') => fake.requests.filter((r) => r.path === path),
    close: async () => {},
  };

  function hostedPayment(body: any): { status: number; body: any } {
    for (const field of ['amount', 'currency', 'success_url', 'failure_url', 'cancel_url']) {
      if (body?.[field] === undefined) return { status: 422, body: { error_type: 'request_invalid', error_codes: [`${field}_required`] } };
    }
    if (!body.billing?.address?.country) return { status: 422, body: { error_type: 'request_invalid', error_codes: ['billing_address_country_required'] } };
    const pageId = id('hpp');
    const url = `https://pay.checkout.com/page/${pageId}`;
    fake.hostedPages.set(pageId, { id: pageId, url, request: body });
    return { status: 201, body: { id: pageId, reference: body.reference, _links: { self: { href: `${fake.url}/hosted-payments/${pageId}` }, redirect: { href: url } } } };
  }

  function payment(body: any): { status: number; body: any } {
    if (body?.source?.type !== 'id' || typeof body.source.id !== 'string' || !Number.isInteger(body.amount)) {
      return { status: 422, body: { error_type: 'request_invalid', error_codes: ['source_invalid'] } };
    }
    const outcome = byUser.get(body.metadata?.user_id)?.shift() ?? fake.nextCharges.shift() ?? fake.chargeOutcome;
    if (outcome === 'unavailable') return { status: 503, body: { error_type: 'service_unavailable' } };
    if (outcome === 'rate_limited') return { status: 429, body: { error_type: 'too_many_requests' } };
    if (outcome === 'invalid') return { status: 422, body: { request_id: id('req'), error_type: 'request_invalid', error_codes: ['source_id_invalid'] } };
    const paymentId = id('pay');
    const base = { id: paymentId, action_id: id('act'), amount: body.amount, currency: body.currency, reference: body.reference, metadata: body.metadata, source: { id: body.source.id, type: 'card', last4: '4242' } };
    const record = (status: string) => fake.payments.set(paymentId, { status, body: { ...base, customer: body.customer } });
    if (outcome === 'pending') {
      record('Pending');
      return { status: 202, body: { id: paymentId, status: 'Pending', reference: body.reference } };
    }
    if (outcome === 'approve' || outcome === 'authorize') {
      const capturedNow = outcome === 'approve' && body.capture !== false;
      record(capturedNow ? 'Captured' : 'Authorized');
      fake.outbox.push(fake.event(capturedNow ? 'payment_captured' : 'payment_approved', { ...base, customer: body.customer }));
      return { status: 201, body: { ...base, approved: true, status: 'Authorized', response_code: '10000', response_summary: 'Approved' } };
    }
    record('Declined');
    fake.outbox.push(fake.event('payment_declined', { ...base, response_code: '20051', response_summary: 'Insufficient Funds' }));
    return { status: 201, body: { ...base, approved: false, status: 'Declined', response_code: '20051', response_summary: 'Insufficient Funds' } };
  }

  function paymentDetails(paymentId: string): { status: number; body: any } {
    const payment = fake.payments.get(paymentId);
    if (!payment) return { status: 404, body: {} };
    return { status: 200, body: { ...payment.body, status: payment.status, approved: payment.status !== 'Declined' } };
  }

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      let body: any;
      try {
        body = chunks.length ? JSON.parse(Buffer.concat(chunks).toString('utf8')) : undefined;
      } catch {
        body = undefined;
      }
      const path = (req.url ?? '').split('?')[0]!;
      fake.requests.push({ method: req.method ?? '', path, headers: req.headers, body });
      const send = (r: { status: number; body: any }) => res.writeHead(r.status, { 'content-type': 'application/json' }).end(JSON.stringify(r.body));
      if (req.headers.authorization !== `Bearer ${secretKey}`) return send({ status: 401, body: {} });
      const details = /^\/payments\/([^/]+)$/.exec(path);
      if (req.method === 'GET' && details) return send(paymentDetails(decodeURIComponent(details[1]!)));
      if (req.method !== 'POST' || (path !== '/hosted-payments' && path !== '/payments')) return send({ status: 404, body: {} });
      // Checkout.com answers a repeated idempotency key with the first answer, and charges once.
      const key = req.headers['cko-idempotency-key'];
      const keyId = typeof key === 'string' ? `${path}:${key}` : undefined;
      const earlier = keyId ? idempotent.get(keyId) : undefined;
      if (earlier) return send(earlier);
      const result = path === '/hosted-payments' ? hostedPayment(body) : payment(body);
      if (keyId && result.status < 500 && result.status !== 429) idempotent.set(keyId, result);
      send(result);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  fake.url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  fake.close = () =>
    new Promise((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  return fake;
}
