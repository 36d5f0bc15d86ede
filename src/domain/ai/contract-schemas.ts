import type { Ajv2020, ValidateFunction } from 'ajv/dist/2020.js';
import { CONTRACT_SCHEMA_ID, contractAjv, type Contract } from '../../core/contract.js';

// AI output is untrusted input: it is validated against the same schemas the contract promises
// clients (SuggestedAction, TaskSuggestion, …) before anyone sees it.

const validators = new WeakMap<Contract, { ajv: Ajv2020; byName: Map<string, ValidateFunction> }>();

/** A validator for `#/components/schemas/<name>` of the contract. */
export function contractSchema(contract: Contract, name: string): ValidateFunction {
  let v = validators.get(contract);
  if (!v) {
    v = { ajv: contractAjv(contract), byName: new Map() };
    validators.set(contract, v);
  }
  let fn = v.byName.get(name);
  if (!fn) {
    fn = v.ajv.compile({ $ref: `${CONTRACT_SCHEMA_ID}#/components/schemas/${name}` });
    v.byName.set(name, fn);
  }
  return fn;
}

export const validationSummary = (fn: ValidateFunction): string =>
  (fn.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message ?? 'is invalid'}`).join('; ');
