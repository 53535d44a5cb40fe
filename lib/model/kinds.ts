/**
 * The workload kinds imagegate reviews: Pods and the controllers whose pod templates Kyverno's
 * autogen covers, with their API group, resource and where the pod spec sits. The one table that
 * image extraction, policy autogen and the generated webhook configuration all read.
 */

/** One kind whose objects hold a pod spec. */
export interface WorkloadKind {
  readonly kind: string;
  /** API group (`''` for the core group). */
  readonly group: string;
  /** Plural resource name, as webhook rules name it. */
  readonly resource: string;
  /** Subresources that carry images too (`pods/ephemeralcontainers`: `kubectl debug`). */
  readonly subresources: readonly string[];
  /** Path from the object's root to its pod spec. */
  readonly podSpec: readonly string[];
}

const TEMPLATE = ['spec', 'template', 'spec'];

/** In the order the generated webhook rules list them. */
export const WORKLOAD_KINDS: readonly WorkloadKind[] = [
  { kind: 'Pod', group: '', resource: 'pods', subresources: ['ephemeralcontainers'], podSpec: ['spec'] },
  {
    kind: 'ReplicationController',
    group: '',
    resource: 'replicationcontrollers',
    subresources: [],
    podSpec: TEMPLATE,
  },
  { kind: 'Deployment', group: 'apps', resource: 'deployments', subresources: [], podSpec: TEMPLATE },
  { kind: 'StatefulSet', group: 'apps', resource: 'statefulsets', subresources: [], podSpec: TEMPLATE },
  { kind: 'DaemonSet', group: 'apps', resource: 'daemonsets', subresources: [], podSpec: TEMPLATE },
  { kind: 'ReplicaSet', group: 'apps', resource: 'replicasets', subresources: [], podSpec: TEMPLATE },
  { kind: 'Job', group: 'batch', resource: 'jobs', subresources: [], podSpec: TEMPLATE },
  {
    kind: 'CronJob',
    group: 'batch',
    resource: 'cronjobs',
    subresources: [],
    podSpec: ['spec', 'jobTemplate', 'spec', 'template', 'spec'],
  },
];

/** The controllers Kyverno's autogen covers, in Kyverno's order (the default of the autogen annotation). */
export const POD_CONTROLLERS = [
  'DaemonSet',
  'Deployment',
  'Job',
  'StatefulSet',
  'ReplicaSet',
  'ReplicationController',
  'CronJob',
] as const;

/** Path from the resource root to its pod spec, for a Pod or pod controller; `undefined` for other kinds. */
export function podSpecPath(kind: string): readonly string[] | undefined {
  return WORKLOAD_KINDS.find((workload) => workload.kind === kind)?.podSpec;
}

/** Webhook rule resources by API group, in table order: `pods`, `pods/ephemeralcontainers`, …. */
export function workloadResourcesByGroup(): { apiGroup: string; resources: string[] }[] {
  const groups = new Map<string, string[]>();
  for (const { group, resource, subresources } of WORKLOAD_KINDS) {
    const resources = groups.get(group) ?? [];
    resources.push(resource, ...subresources.map((subresource) => `${resource}/${subresource}`));
    groups.set(group, resources);
  }
  return [...groups].map(([apiGroup, resources]) => ({ apiGroup, resources }));
}
