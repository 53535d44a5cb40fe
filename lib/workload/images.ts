/** Where a container image sits in a resource. */
export interface ImageSite {
  /** The image as written in the resource. */
  readonly image: string;
  /** RFC 6901 pointer to the image field, e.g. `/spec/template/spec/containers/0/image`. */
  readonly pointer: string;
  readonly containerName: string;
  readonly field: ContainerField;
}

export type ContainerField = 'initContainers' | 'containers' | 'ephemeralContainers';

const CONTAINER_FIELDS: readonly ContainerField[] = ['initContainers', 'containers', 'ephemeralContainers'];

/** Path from the resource root to its pod spec, per kind (Kyverno's autogen table). */
const POD_SPEC_PATHS: Readonly<Record<string, readonly string[]>> = {
  Pod: ['spec'],
  Deployment: ['spec', 'template', 'spec'],
  StatefulSet: ['spec', 'template', 'spec'],
  DaemonSet: ['spec', 'template', 'spec'],
  ReplicaSet: ['spec', 'template', 'spec'],
  ReplicationController: ['spec', 'template', 'spec'],
  Job: ['spec', 'template', 'spec'],
  CronJob: ['spec', 'jobTemplate', 'spec', 'template', 'spec'],
};

/** True when imagegate knows where `kind` keeps its pod spec. */
export function hasPodSpec(kind: string): boolean {
  return Object.hasOwn(POD_SPEC_PATHS, kind);
}

/**
 * Every container image of a Pod or pod controller, in the order init, regular, ephemeral,
 * each with its JSON pointer. Entries without a string image are left out.
 */
export function extractImageSites(kind: string, object: unknown): ImageSite[] {
  const path = POD_SPEC_PATHS[kind];
  if (!path) return [];
  let podSpec: unknown = object;
  for (const segment of path) podSpec = (podSpec as Record<string, unknown> | undefined)?.[segment];
  if (typeof podSpec !== 'object' || podSpec === null) return [];

  const sites: ImageSite[] = [];
  for (const field of CONTAINER_FIELDS) {
    const containers = (podSpec as Record<string, unknown>)[field];
    if (!Array.isArray(containers)) continue;
    containers.forEach((container: unknown, index) => {
      const { image, name } = (container ?? {}) as { image?: unknown; name?: unknown };
      if (typeof image !== 'string') return;
      sites.push({
        image,
        pointer: `/${[...path, field, String(index), 'image'].join('/')}`,
        containerName: typeof name === 'string' ? name : '',
        field,
      });
    });
  }
  return sites;
}
