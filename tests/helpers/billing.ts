import webPush from 'web-push';
import { startFakeCheckout, type FakeCheckout } from '../fakes/checkout.js';
import { startFakePushService, type FakePushService } from '../fakes/push-service.js';
import { startTestApp, type TestApp, type TestAppOptions } from './app.js';

export interface BillingApp {
  t: TestApp;
  checkout: FakeCheckout;
  pushService: FakePushService;
  close(): Promise<void>;
}

/**
 * The app with Checkout.com and Web Push configured against the local fakes. Webhooks from the
 * fake Checkout.com go through the contract-checking client, like every other request.
 */
export async function startBillingApp(opts: TestAppOptions = {}): Promise<BillingApp> {
  const checkout = await startFakeCheckout();
  const pushService = await startFakePushService();
  const vapid = webPush.generateVAPIDKeys();
  const t = await startTestApp({
    ...opts,
    env: {
      CHECKOUT_SECRET_KEY: checkout.secretKey,
      CHECKOUT_WEBHOOK_SECRET: checkout.webhookSecret,
      CHECKOUT_API_URL: checkout.url,
      VAPID_PUBLIC_KEY: vapid.publicKey,
      VAPID_PRIVATE_KEY: vapid.privateKey,
      VAPID_CONTACT_EMAIL: 'ops@example.com',
      WEB_PUSH_EXTRA_CA_CERTS: pushService.ca,
      // the fake push service listens on 127.0.0.1
      PUSH_ALLOW_LOOPBACK: 'true',
      ...opts.env,
    },
  });
  checkout.sender = async (rawBody, headers) => {
    const res = await t.api.post('/webhooks/checkout', undefined, { rawBody, headers, token: null });
    return { status: res.status, body: res.body };
  };
  return {
    t,
    checkout,
    pushService,
    async close() {
      await t.close();
      await checkout.close();
      await pushService.close();
    },
  };
}
