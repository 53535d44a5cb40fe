import { podSpecPath } from '../model/kinds';
import { escapePointerSegment } from '../model/json-pointer';

/** Where an image the kubelet pulls sits in a resource: a container's, or an image volume's. */
export interface ImageSite {
  /** The image as written in the resource. */
  readonly image: string;
  /**
   * RFC 6901 pointer to the image field, e.g. `/spec/template/spec/containers/0/image` or
   * `/spec/volumes/0/image/reference`.
   */
  readonly pointer: string;
  /** The container's name; for an image volume, the volume's name (what `volumeMounts[].name` refers to). */
  readonly containerName: string;
  /**
   * The pod spec list the image is in (`imageVolumes` for `volumes[].image.reference`, the name
   * Kyverno's proposed built-in extractor uses), or `custom` when an image extractor found it.
   */
  readonly field: ContainerField | typeof IMAGE_VOLUMES | 'custom';
}

export type ContainerField = 'initContainers' | 'containers' | 'ephemeralContainers';

/** The {@link ImageSite.field} of an image volume (`spec.volumes[].image.reference`, KEP-4639). */
export const IMAGE_VOLUMES = 'imageVolumes';

/** Where images sit in a custom resource (Kyverno's `imageExtractors` entry). */
export interface ImageLocator {
  readonly path: string;
  readonly value: string;
  readonly key: string;
}

const CONTAINER_FIELDS: readonly ContainerField[] = ['initContainers', 'containers', 'ephemeralContainers'];

/**
 * Every image of a resource with its JSON pointer: through `locators` when given (a rule's
 * `imageExtractors` for this kind), else the pod spec of a Pod or pod controller in the order
 * init, regular and ephemeral containers, then image volumes (`volumes[].image.reference`).
 * Entries without a string image are left out.
 */
export function extractImageSites(
  kind: string,
  object: unknown,
  locators?: readonly ImageLocator[],
): ImageSite[] {
  if (locators && locators.length > 0) return locators.flatMap((locator) => locateImages(object, locator));
  const path = podSpecPath(kind);
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
  const volumes = (podSpec as Record<string, unknown>).volumes;
  if (Array.isArray(volumes)) {
    volumes.forEach((volume: unknown, index) => {
      const { image, name } = (volume ?? {}) as { image?: unknown; name?: unknown };
      const reference = (image as { reference?: unknown } | null | undefined)?.reference;
      if (typeof reference !== 'string') return;
      sites.push({
        image: reference,
        pointer: `/${[...path, 'volumes', String(index), 'image', 'reference'].join('/')}`,
        containerName: typeof name === 'string' ? name : '',
        field: IMAGE_VOLUMES,
      });
    });
  }
  return sites;
}

function locateImages(object: unknown, locator: ImageLocator): ImageSite[] {
  const segments = locator.path
    .split('/')
    .slice(1)
    .filter((segment) => segment !== '')
    .map((segment) => segment.replace(/~1/g, '/').replace(/~0/g, '~'));
  const sites: ImageSite[] = [];
  const visit = (node: unknown, depth: number, pointer: readonly string[], label: string): void => {
    if (depth === segments.length) {
      const holder = node as Record<string, unknown> | undefined;
      const image = locator.value ? holder?.[locator.value] : node;
      if (typeof image !== 'string') return;
      const named = locator.key ? holder?.[locator.key] : undefined;
      sites.push({
        image,
        pointer: `/${[...pointer, ...(locator.value ? [locator.value] : [])].map(escapePointerSegment).join('/')}`,
        containerName: typeof named === 'string' ? named : label,
        field: 'custom',
      });
      return;
    }
    const segment = segments[depth] ?? '';
    if (typeof node !== 'object' || node === null) return;
    if (segment === '*') {
      const entries: [string, unknown][] = Array.isArray(node)
        ? node.map((item: unknown, index) => [String(index), item])
        : Object.entries(node);
      for (const [key, child] of entries) visit(child, depth + 1, [...pointer, key], key);
      return;
    }
    visit((node as Record<string, unknown>)[segment], depth + 1, [...pointer, segment], segment);
  };
  visit(object, 0, [], '');
  return sites;
}
