import { DomainError, serviceUnavailable, unauthorized } from '../core/errors.js';
import { InvalidCredential, ProviderUnavailable, type Provider } from '../integrations/failures.js';

const UNAVAILABLE_CODE = {
  ai: 'AI_SERVICE_UNAVAILABLE',
  transcription: 'TRANSCRIPTION_SERVICE_UNAVAILABLE',
  payment: 'PAYMENT_SERVICE_UNAVAILABLE',
  'google-sign-in': 'SERVICE_UNAVAILABLE',
} as const satisfies Record<Provider, string>;

/** An adapter's failure in the catalogue's terms; any other error is returned as it is. */
export function translateProviderFailure(err: unknown): unknown {
  if (err instanceof ProviderUnavailable) return serviceUnavailable(UNAVAILABLE_CODE[err.provider], err.message);
  if (err instanceof InvalidCredential) {
    // An invalid token asks the client to authenticate again; an unverified email would not change by retrying.
    return err.reason === 'invalid' ? unauthorized(err.message) : new DomainError('UNAUTHORIZED', err.message);
  }
  return err;
}

/** Runs a provider call, translating its failure. */
export async function fromProvider<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    throw translateProviderFailure(err);
  }
}

/** `provider.assertConfigured()`, its refusal translated (a 503 before any work or charge). */
export function assertProviderConfigured(provider: { assertConfigured(): void }): void {
  try {
    provider.assertConfigured();
  } catch (err) {
    throw translateProviderFailure(err);
  }
}

/** A provider's stream whose failures (while iterating) are translated. */
export async function* translatedStream<T>(stream: AsyncIterable<T>): AsyncGenerator<T> {
  try {
    yield* stream;
  } catch (err) {
    throw translateProviderFailure(err);
  }
}
