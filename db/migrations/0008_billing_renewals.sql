-- Renewals that never conclude: the instant by which the renewal charge now being attempted must
-- have an outcome (Checkout.com's payment_captured or payment_declined). It is set when the hourly
-- subscription_check first tries the attempt (kept while Checkout.com is unreachable and the call
-- is retried) and cleared by any outcome; when it passes with none, the job counts the attempt as
-- one failed payment, so a lost webhook cannot keep a user on Pro without paying.
alter table subscriptions add column charge_outcome_due_at timestamptz;
alter table subscriptions add constraint subscriptions_charge_outcome_due_state
  check (charge_outcome_due_at is null or status in ('active', 'past_due'));
create index subscriptions_charge_outcome_due_idx on subscriptions (charge_outcome_due_at) where charge_outcome_due_at is not null;
