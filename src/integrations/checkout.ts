import { createHmac, timingSafeEqual } from 'node:crypto';
import type { Config } from '../config.js';
import { AppError, serviceUnavailable } from '../http/errors.js';

// Checkout.com over its HTTP API (https://api-reference.checkout.com): hosted payment pages for a
// customer who pays in the browser, `POST /payments` to charge a card Checkout.com stored, and the
// HMAC of webhook deliveries. The only module that talks to Checkout.com.

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
  /** `true` when the issuer approved it; the capture is confirmed later by `payment_captured`. */
  approved: boolean;
  /** Checkout.com's status: `Authorized`, `Captured`, `Declined`, `Pending`, … */
  status: string;
  responseSummary: string | null;
}

export interface CheckoutClient {
  readonly configured: boolean;
  createHostedPayment(req: HostedPaymentRequest, idempotencyKey: string): Promise<HostedPaymentPage>;
  chargeStoredSource(req: StoredSourceCharge, idempotencyKey: string): Promise<ChargeResult>;
}

const unavailable = () => serviceUnavailable('PAYMENT_SERVICE_UNAVAILABLE', 'The payment service is unavailable; try again later');
const notConfigured = () => serviceUnavailable('PAYMENT_SERVICE_UNAVAILABLE', 'Payments are not configured: set CHECKOUT_SECRET_KEY');

export function createCheckoutClient(cfg: CheckoutConfig): CheckoutClient {
  const base = cfg.apiUrl.replace(/\/+$/, '');
  const timeoutMs = cfg.timeoutMs ?? 15_000;

  /** One call; transport failures, timeouts, 429 and 5xx become 503 (safe to retry with the same idempotency key). */
  async function call(path: string, body: unknown, idempotencyKey: string): Promise<{ status: number; json: any }> {
    if (!cfg.secretKey) throw notConfigured();
    let res: Response;
    try {
      res = await fetch(`${base}${path}`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${cfg.secretKey}`,
          'content-type': 'application/json',
          'cko-idempotency-key': idempotencyKey,
        },
        body: JSON.stringify(body),
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
    if (res.status === 401 || res.status === 403) throw serviceUnavailable('PAYMENT_SERVICE_UNAVAILABLE', 'The payment service rejected our credentials; check CHECKOUT_SECRET_KEY');
    if (res.status >= 400) {
      const codes = Array.isArray(json?.error_codes) ? json.error_codes.join(', ') : text.slice(0, 200);
      throw new Error(`Checkout.com ${path} answered ${res.status}: ${codes}`);
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
      return {
        paymentId: json.id,
        approved: json.approved === true,
        status: typeof json.status === 'string' ? json.status : 'Unknown',
        responseSummary: typeof json.response_summary === 'string' ? json.response_summary : null,
      };
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

export const paymentDeclined = (summary: string | null) =>
  new AppError(402, 'PAYMENT_DECLINED', summary ? `The payment was declined: ${summary}` : 'The payment was declined by the card issuer');
