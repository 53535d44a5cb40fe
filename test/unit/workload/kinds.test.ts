/** Issue 12: one table of workload kinds feeds autogen, image extraction and the webhook rules. */
import {
  podSpecPath,
  POD_CONTROLLERS,
  WORKLOAD_KINDS,
  workloadResourcesByGroup,
} from '../../../lib/model/kinds';
import { extractImageSites } from '../../../lib/workload/images';

describe('the workload kinds table', () => {
  test('every autogen controller, and Pod, has a pod spec path', () => {
    expect(['Pod', ...POD_CONTROLLERS].filter((kind) => podSpecPath(kind) === undefined)).toEqual([]);
    expect(WORKLOAD_KINDS.map((workload) => workload.kind).sort()).toEqual(
      ['Pod', ...POD_CONTROLLERS].sort(),
    );
    expect(podSpecPath('ConfigMap')).toBeUndefined();
  });

  test('image extraction reads the pod spec where the table puts it', () => {
    for (const { kind, podSpec } of WORKLOAD_KINDS) {
      const object: Record<string, unknown> = {};
      let holder = object;
      for (const segment of podSpec) {
        const child: Record<string, unknown> = {};
        holder[segment] = child;
        holder = child;
      }
      holder.containers = [{ name: 'app', image: 'ghcr.io/acme/app:v1' }];

      expect(extractImageSites(kind, object).map((site) => site.pointer)).toEqual([
        `/${[...podSpec, 'containers', '0', 'image'].join('/')}`,
      ]);
    }
  });

  test('webhook resources come grouped by API group, subresources after their resource', () => {
    expect(workloadResourcesByGroup()).toEqual([
      { apiGroup: '', resources: ['pods', 'pods/ephemeralcontainers', 'replicationcontrollers'] },
      { apiGroup: 'apps', resources: ['deployments', 'statefulsets', 'daemonsets', 'replicasets'] },
      { apiGroup: 'batch', resources: ['jobs', 'cronjobs'] },
    ]);
  });
});
