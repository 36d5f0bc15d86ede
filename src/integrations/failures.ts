// What an adapter reports when a provider fails, in the provider's terms; the domain translates
// these into its catalogue (src/domain/provider-failures.ts). Adapters know nothing of HTTP.

/** The provider a failure is about. */
export type Provider = 'ai' | 'transcription' | 'payment' | 'google-sign-in';

/**
 * The provider cannot serve the request now: not configured, down, timed out, or refusing our own
 * credentials. The message is written for the client (it never names a secret).
 */
export class ProviderUnavailable extends Error {
  constructor(
    readonly provider: Provider,
    message: string,
  ) {
    super(message);
    this.name = 'ProviderUnavailable';
  }
}

/**
 * A credential the client handed over for a provider to check (a Google ID token) was refused:
 * `invalid` (forged, expired, for another client) or `unverified` (valid, but its email is not verified).
 */
export class InvalidCredential extends Error {
  constructor(
    readonly reason: 'invalid' | 'unverified',
    message: string,
  ) {
    super(message);
    this.name = 'InvalidCredential';
  }
}
