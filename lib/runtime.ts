import type { Config } from './config';
import { RegistryImageSource } from './oci/image-source';
import { RegistryClient } from './oci/registry';
import { UndiciTransport } from './oci/transport';
import { FolderPolicyProvider } from './policy/folder-source';
import type { Log, WebhookDependencies } from './webhook';

/** Builds the webhook's adapters from configuration; call once per process (Lambda container, CLI run). */
export function createDependencies(
  config: Config,
  log: Log,
): WebhookDependencies & { close(): Promise<void> } {
  const transport = new UndiciTransport();
  const client = new RegistryClient({ transport, insecureRegistries: config.insecureRegistries });
  return {
    policies: new FolderPolicyProvider(config.policies),
    images: new RegistryImageSource(client),
    log,
    close: () => transport.close(),
  };
}
