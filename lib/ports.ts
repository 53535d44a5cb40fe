/**
 * Every port between the review use case and the adapters, in one place. Adapters implement
 * these; the use case and the composition root (lib/runtime.ts) depend on them.
 */
export type { ImageSource } from './review/gather';
export type { PolicyProvider } from './policy/policy-set';
export type { PolicyStore, PolicyObject } from './policy/store';
export type { SecretReader } from './secrets';
export type { Log } from './review/webhook';
export type { AwsAdapters } from './runtime';
export type { RegistryTransport, TransportRequest, TransportResponse } from './oci/transport';
export type { CredentialLookup, RegistryCredential } from './oci/auth';
export type { Resolver } from './oci/address-guard';

/** The time, for everything stateful that expires or measures (caches, tokens, budgets). */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
}
