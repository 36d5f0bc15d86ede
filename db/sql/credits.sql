-- The SQL the credits use cases send, statement by statement (parameters as $1…).
-- Written by tests/db/sql-snapshots.test.ts; do not edit. After a query change: UPDATE_SQL_SNAPSHOTS=1 npm test -- tests/db/sql-snapshots.test.ts

-- getCreditBalance: GET /credits/balance
select "kind", sum(remaining)::int as "credits"
  from "credit_lots"
  where "user_id" = $1 and remaining > 0 and (expires_at is null or expires_at > now())
  group by "kind";

-- chatWithAssistant: POST /ai/chat, answered (1 credit reserved before the provider is asked)
insert into idempotency_keys (user_id, key, fingerprint, method, path, state, locked_until, expires_at) select $1, $2, $3, $4, $5, 'in_flight', now() + make_interval(secs => $6), now() + make_interval(hours => $7)
  from (select set_config('synchronous_commit', 'off', true)) as no_flush_wait
  on conflict (user_id, key) do nothing
  returning key;
begin;
select pg_advisory_xact_lock(hashtextextended($1, 0));
select "id", "kind", "remaining"
  from "credit_lots"
  where "user_id" = $1 and remaining > 0 and (expires_at is null or expires_at > now())
  order by array_position(array['daily', 'subscription', 'purchased', 'kickstart']::text[], kind), "created_at", "id"
  for update;
update "credit_lots"
  set "remaining" = remaining - $1, "updated_at" = $2
  where "id" = $3;
insert into "ai_credit_ledger" ("id", "user_id", "type", "category", "amount", "balance_after", "description", "operation_ref", "lot_id", "allocations", "created_at", "updated_at")
  values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, clock_timestamp(), clock_timestamp());
commit;
insert into "activity_logs" ("user_id", "entity_type", "entity_id", "action", "source", "request_id", "extra_data")
  values ($1, $2, $3, $4, $5, $6, $7);
update idempotency_keys
  set state = 'completed', response_status = $1, response_body = $2::jsonb, response_text = $3, response_headers = $4::jsonb, locked_until = null, updated_at = now()
  from (select set_config('synchronous_commit', 'off', true)) as no_flush_wait
  where user_id = $5 and key = $6;

-- chatWithAssistant: POST /ai/chat, the provider fails (the reserved credit is refunded)
insert into idempotency_keys (user_id, key, fingerprint, method, path, state, locked_until, expires_at) select $1, $2, $3, $4, $5, 'in_flight', now() + make_interval(secs => $6), now() + make_interval(hours => $7)
  from (select set_config('synchronous_commit', 'off', true)) as no_flush_wait
  on conflict (user_id, key) do nothing
  returning key;
begin;
select pg_advisory_xact_lock(hashtextextended($1, 0));
select "id", "kind", "remaining"
  from "credit_lots"
  where "user_id" = $1 and remaining > 0 and (expires_at is null or expires_at > now())
  order by array_position(array['daily', 'subscription', 'purchased', 'kickstart']::text[], kind), "created_at", "id"
  for update;
update "credit_lots"
  set "remaining" = remaining - $1, "updated_at" = $2
  where "id" = $3;
insert into "ai_credit_ledger" ("id", "user_id", "type", "category", "amount", "balance_after", "description", "operation_ref", "lot_id", "allocations", "created_at", "updated_at")
  values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, clock_timestamp(), clock_timestamp());
commit;
begin;
select pg_advisory_xact_lock(hashtextextended($1, 0));
select "allocations"
  from "ai_credit_ledger"
  where "id" = $1 and "user_id" = $2 and "type" = $3 and "category" = $4;
select "id"
  from "ai_credit_ledger"
  where "user_id" = $1 and "type" = $2 and "category" = $3 and "operation_ref" = $4;
update "credit_lots"
  set "remaining" = remaining + $1, "updated_at" = $2
  where "id" = $3 and "user_id" = $4 and (expires_at is null or expires_at > now())
  returning "id";
select "kind", sum(remaining)::int as "credits"
  from "credit_lots"
  where "user_id" = $1 and remaining > 0 and (expires_at is null or expires_at > now())
  group by "kind";
insert into "ai_credit_ledger" ("id", "user_id", "type", "category", "amount", "balance_after", "description", "operation_ref", "lot_id", "allocations", "created_at", "updated_at")
  values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, clock_timestamp(), clock_timestamp());
commit;
delete
  from idempotency_keys using (select set_config('synchronous_commit', 'off', true)) as no_flush_wait
  where user_id = $1 and key = $2 and state = 'in_flight';
