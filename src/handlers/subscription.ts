import { notYet } from '../http/not-implemented.js';

// Issue #5: these operations are specified in openapi.yaml and answer 501 until built.

export const getSubscription = notYet('getSubscription', 5);
export const createCheckoutSession = notYet('createCheckoutSession', 5);
export const upgradeSubscription = notYet('upgradeSubscription', 5);
export const cancelSubscription = notYet('cancelSubscription', 5);
export const purchaseCredits = notYet('purchaseCredits', 5);
export const handleCheckoutWebhook = notYet('handleCheckoutWebhook', 5);
