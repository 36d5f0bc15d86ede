-- A replay answers the first response's bytes: jsonb keeps neither key order nor spacing, so the
-- serialized body is kept as text beside it (response_body stays for reading the answer in SQL).
alter table idempotency_keys add column response_text text;
