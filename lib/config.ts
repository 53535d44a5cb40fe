import { ImagegateError } from './errors';

/** Everything imagegate reads from its environment, with explicit defaults. */
export interface Config {
  /** A policy folder or file (later also `s3://bucket/prefix`). */
  readonly policies: string;
  /** Registries (host[:port]) spoken to over plain HTTP. */
  readonly insecureRegistries: readonly string[];
  readonly logLevel: 'DEBUG' | 'INFO' | 'WARN' | 'ERROR';
}

export class ConfigError extends ImagegateError<'INVALID_CONFIG'> {}

const LOG_LEVELS = ['DEBUG', 'INFO', 'WARN', 'ERROR'] as const;
const HOST_PORT = /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(?::\d{1,5})?$/;

/**
 * Reads imagegate's configuration from environment variables:
 * `IMAGEGATE_POLICIES` (default `./policies`), `IMAGEGATE_INSECURE_REGISTRIES` (comma-separated
 * host:port), `IMAGEGATE_LOG_LEVEL` (default INFO). Throws {@link ConfigError} on a bad value.
 */
export function readConfig(env: Readonly<Record<string, string | undefined>>): Config {
  const logLevel = (env.IMAGEGATE_LOG_LEVEL ?? 'INFO').toUpperCase();
  if (!(LOG_LEVELS as readonly string[]).includes(logLevel)) {
    throw new ConfigError('INVALID_CONFIG', `IMAGEGATE_LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}`);
  }
  return {
    policies: env.IMAGEGATE_POLICIES?.trim() || './policies',
    insecureRegistries: parseRegistryList(
      env.IMAGEGATE_INSECURE_REGISTRIES ?? '',
      'IMAGEGATE_INSECURE_REGISTRIES',
    ),
    logLevel: logLevel as Config['logLevel'],
  };
}

/** Splits a comma-separated list of registry hosts, refusing anything that is not host[:port]. */
export function parseRegistryList(value: string, name: string): string[] {
  const hosts = value
    .split(',')
    .map((item) => item.trim())
    .filter(Boolean);
  for (const host of hosts) {
    if (!HOST_PORT.test(host))
      throw new ConfigError('INVALID_CONFIG', `${name}: ${JSON.stringify(host)} is not host[:port]`);
  }
  return hosts;
}
