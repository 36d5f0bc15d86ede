-- Issue 15: each Checkout.com payment is applied once per outcome, whatever event delivers it.
-- Checkout.com may deliver one payment under several event ids, and webhook_events keeps event ids
-- only 90 days (then an old signed body could be replayed); a row here is written in the
-- transaction that applies the payment and kept as long as its user (and so the subscription).
create table applied_payments (
  id uuid primary key default gen_random_uuid(),
  -- Checkout.com's payment id (data.id, pay_…); the event id when an event has none
  payment_id text not null,
  kind text not null check (kind in ('captured', 'refunded', 'declined')),
  user_id uuid not null references users (id) on delete cascade,
  -- the event that applied it (null for payments applied before this table existed)
  event_id text,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  unique (payment_id, kind)
);
create index applied_payments_user_idx on applied_payments (user_id);

-- Subscription payments applied so far, from the ledger (kept for good) and the activity log:
-- each granted its month's credits under `subscription_period:<payment id>`.
insert into applied_payments (payment_id, kind, user_id)
select distinct substring(operation_ref from length('subscription_period:') + 1), 'captured', user_id
from ai_credit_ledger
where type = 'grant' and category = 'subscription' and operation_ref like 'subscription_period:%'
on conflict (payment_id, kind) do nothing;

insert into applied_payments (payment_id, kind, user_id)
select distinct extra_data->>'payment_id', 'captured', user_id
from activity_logs
where entity_type = 'subscription' and action in ('subscription_activated', 'subscription_renewed') and extra_data->>'payment_id' is not null
on conflict (payment_id, kind) do nothing;
