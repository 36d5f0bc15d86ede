import { createHmac, timingSafeEqual } from 'node:crypto';
import type { Config } from '../config.js';
import { ProviderUnavailable } from './failures.js';

// Checkout.com over its HTTP API (https://api-reference.checkout.com): hosted payment pages for a
// customer who pays in the browser, `POST /payments` to charge a card Checkout.com stored,
// `GET /payments/{id}` to see whether a payment was captured, and the HMAC of webhook deliveries.
// The only module that talks to Checkout.com.

export interface CheckoutConfig {
  secretKey: string | undefined;
  apiUrl: string;
  timeoutMs?: number;
}

export interface HostedPaymentRequest {
  amountMinor: number;
  currency: string;
  reference: string;
  description: string;
  /** `Recurring` stores the card for renewals (merchant-initiated charges later). */
  paymentType: 'Regular' | 'Recurring';
  customer: { email: string; name: string };
  billingCountry: string;
  successUrl: string;
  cancelUrl: string;
  failureUrl: string;
  /** Comes back in every webhook of the payment as `data.metadata`. */
  metadata: Record<string, string>;
}

export interface HostedPaymentPage {
  /** `hpp_…` */
  id: string;
  /** Where to send the customer. */
  url: string;
}

export interface StoredSourceCharge {
  sourceId: string;
  customerId: string | null;
  amountMinor: number;
  currency: string;
  reference: string;
  description: string;
  paymentType: 'Regular' | 'Recurring';
  metadata: Record<string, string>;
}

export interface ChargeResult {
  paymentId: string;
  /**
   * `true` when the issuer approved it. Approval is an authorisation, not money taken: with
   * `capture: true` Checkout.com captures it shortly after (`status` becomes `Captured`, and
   * `payment_captured` is sent); only `captured` means paid.
   */
  approved: boolean;
  /** `status` is `Captured`: the payment is taken. */
  captured: boolean;
  /** Checkout.com's status: `Authorized`, `Captured`, `Declined`, `Pending`, … */
  status: string;
  responseSummary: string | null;
}

export interface PaymentState {
  /** Checkout.com's status: `Authorized`, `Captured`, `Declined`, `Pending`, `Voided`, `Refunded`, … */
  status: string;
  captured: boolean;
}

export interface CheckoutClient {
  readonly configured: boolean;
  createHostedPayment(req: HostedPaymentRequest, idempotencyKey: string): Promise<HostedPaymentPage>;
  chargeStoredSource(req: StoredSourceCharge, idempotencyKey: string): Promise<ChargeResult>;
  getPayment(paymentId: string): Promise<PaymentState>;
}

/**
 * Checkout.com refused the request itself (a 4xx other than 401, 403 and 429: an invalid or
 * unusable source, a malformed request). Not retryable: the same request gets the same answer, and
 * no payment exists, so no webhook will follow.
 */
export class CheckoutRequestRejected extends Error {
  override name = 'CheckoutRequestRejected';
  constructor(
    readonly status: number,
    readonly errorCodes: string[],
    path: string,
  ) {
    super(`Checkout.com ${path} answered ${status}${errorCodes.length ? `: ${errorCodes.join(', ')}` : ''}`);
  }
}

/** Statuses in which the payment's money is taken (a later refund aside). */
const CAPTURED_STATUSES = new Set(['Captured', 'Partially Captured']);

const unavailable = () => new ProviderUnavailable('payment', 'The payment service is unavailable; try again later');
const notConfigured = () => new ProviderUnavailable('payment', 'Payments are not configured: set CHECKOUT_SECRET_KEY');

export function createCheckoutClient(cfg: CheckoutConfig): CheckoutClient {
  const base = cfg.apiUrl.replace(/\/+$/, '');
  const timeoutMs = cfg.timeoutMs ?? 15_000;

  /**
   * One call. Transport failures, timeouts, 429 and 5xx become 503, as do 401/403 (our
   * credentials): all safe to retry with the same idempotency key. Any other 4xx is a
   * CheckoutRequestRejected.
   */
  async function call(path: string, body: unknown, idempotencyKey: string | null): Promise<{ status: number; json: any }> {
    if (!cfg.secretKey) throw notConfigured();
    let res: Response;
    try {
      res = await fetch(`${base}${path}`, {
        method: body === undefined ? 'GET' : 'POST',
        headers: {
          authorization: `Bearer ${cfg.secretKey}`,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
          ...(idempotencyKey ? { 'cko-idempotency-key': idempotencyKey } : {}),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch {
      throw unavailable();
    }
    const text = await res.text().catch(() => '');
    let json: any;
    try {
      json = text ? JSON.parse(text) : null;
    } catch {
      json = null;
    }
    if (res.status === 429 || res.status >= 500) throw unavailable();
    // A rejected key is our configuration's fault, not the user's: they may retry once it is fixed.
    if (res.status === 401 || res.status === 403) throw new ProviderUnavailable('payment', 'The payment service rejected our credentials; check CHECKOUT_SECRET_KEY');
    if (res.status >= 400) {
      const codes = Array.isArray(json?.error_codes) ? json.error_codes.filter((c: unknown): c is string => typeof c === 'string') : [];
      throw new CheckoutRequestRejected(res.status, codes, path);
    }
    return { status: res.status, json };
  }

  return {
    configured: Boolean(cfg.secretKey),

    async createHostedPayment(req, idempotencyKey) {
      const { json } = await call(
        '/hosted-payments',
        {
          amount: req.amountMinor,
          currency: req.currency,
          reference: req.reference,
          description: req.description,
          payment_type: req.paymentType,
          customer: req.customer,
          billing: { address: { country: req.billingCountry } },
          success_url: req.successUrl,
          cancel_url: req.cancelUrl,
          failure_url: req.failureUrl,
          metadata: req.metadata,
        },
        idempotencyKey,
      );
      const url = json?._links?.redirect?.href;
      if (typeof json?.id !== 'string' || typeof url !== 'string') throw new Error('Checkout.com /hosted-payments answered without id or redirect link');
      return { id: json.id, url };
    },

    async chargeStoredSource(req, idempotencyKey) {
      const { json } = await call(
        '/payments',
        {
          source: { type: 'id', id: req.sourceId },
          amount: req.amountMinor,
          currency: req.currency,
          reference: req.reference,
          description: req.description,
          payment_type: req.paymentType,
          // The customer is not present: we charge a card they stored for this purpose.
          merchant_initiated: true,
          capture: true,
          ...(req.customerId ? { customer: { id: req.customerId } } : {}),
          metadata: req.metadata,
        },
        idempotencyKey,
      );
      if (typeof json?.id !== 'string') throw new Error('Checkout.com /payments answered without a payment id');
      const status = typeof json.status === 'string' ? json.status : 'Unknown';
      return {
        paymentId: json.id,
        approved: json.approved === true,
        captured: CAPTURED_STATUSES.has(status),
        status,
        responseSummary: typeof json.response_summary === 'string' ? json.response_summary : null,
      };
    },

    async getPayment(paymentId) {
      const { json } = await call(`/payments/${encodeURIComponent(paymentId)}`, undefined, null);
      const status = typeof json?.status === 'string' ? json.status : 'Unknown';
      return { status, captured: CAPTURED_STATUSES.has(status) };
    },
  };
}

/** The client the API and the worker use. */
export const checkoutFromConfig = (config: Config): CheckoutClient =>
  createCheckoutClient({ secretKey: config.CHECKOUT_SECRET_KEY, apiUrl: config.CHECKOUT_API_URL });

/** The `Cko-Signature` of a body: lowercase hex HMAC-SHA256 keyed with the webhook secret. */
export const webhookSignature = (secret: string, rawBody: Buffer | string): string => createHmac('sha256', secret).update(rawBody).digest('hex');

/** Compares in constant time; a missing or malformed header is simply not valid. */
export function isValidWebhookSignature(secret: string, rawBody: Buffer, header: string | undefined): boolean {
  if (typeof header !== 'string' || !/^[0-9a-f]{64}$/i.test(header.trim())) return false;
  const expected = Buffer.from(webhookSignature(secret, rawBody), 'hex');
  const given = Buffer.from(header.trim().toLowerCase(), 'hex');
  return given.length === expected.length && timingSafeEqual(given, expected);
}
