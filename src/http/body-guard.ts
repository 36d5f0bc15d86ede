import { isUtf8 } from 'node:buffer';
import { AppError, validationError } from './errors.js';

// Rules for JSON bodies that the contract's schemas cannot express, checked before validation.

/**
 * The most values (objects, arrays, strings, numbers, …) a JSON body may hold. Ajv (allErrors)
 * reports every wrong value, so a 1 MB body of a few hundred thousand wrong values cost seconds of
 * CPU and overflowed the error list of the router used then (`errors.push(...errors)`, a 500). No body the contract
 * accepts comes near it (the largest, a reorder of 100 subtasks, holds ~100 values).
 */
export const MAX_JSON_VALUES = 20_000;

/** Raw body bytes that are not UTF-8: refused instead of being decoded into U+FFFD and stored. */
export function assertUtf8(buf: Buffer): void {
  if (!isUtf8(buf)) throw new AppError('VALIDATION_ERROR', 'The body is not valid UTF-8', { details: [{ field: 'body', message: 'is not valid UTF-8' }] });
}

/**
 * Walks a parsed body (without recursion, so depth costs no stack): at most MAX_JSON_VALUES values,
 * counted before a container's children are visited, and no string or key containing U+0000,
 * which PostgreSQL text and jsonb cannot store.
 */
export function assertStorableJson(body: unknown): void {
  if (body === null || typeof body !== 'object') return;
  const pending: [value: unknown, path: string][] = [[body, 'body']];
  let count = 1;
  const tooMany = () => validationError([{ field: 'body', message: `has more than ${MAX_JSON_VALUES} values` }], 'The body is too large to validate');
  while (pending.length) {
    const [value, path] = pending.pop()!;
    if (typeof value === 'string') {
      if (value.includes('\u0000')) throw nulCharacter(path);
    } else if (Array.isArray(value)) {
      if ((count += value.length) > MAX_JSON_VALUES) throw tooMany();
      for (let i = 0; i < value.length; i++) pending.push([value[i], `${path}.${i}`]);
    } else if (value !== null && typeof value === 'object') {
      const keys = Object.keys(value);
      if ((count += keys.length) > MAX_JSON_VALUES) throw tooMany();
      for (const key of keys) {
        if (key.includes('\u0000')) throw nulCharacter(path);
        pending.push([(value as Record<string, unknown>)[key], `${path}.${key}`]);
      }
    }
  }
}

const nulCharacter = (field: string) => validationError([{ field, message: 'must not contain the NUL character (U+0000)' }]);
