import { extractImageSites, IMAGE_VOLUMES } from '../../../lib/workload/images';

const podSpec = {
  initContainers: [{ name: 'init', image: 'busybox:1.36' }],
  containers: [
    { name: 'app', image: 'ghcr.io/kyverno/test-verify-image:signed' },
    { name: 'sidecar', image: 'nginx' },
  ],
  ephemeralContainers: [{ name: 'debugger', image: 'ghcr.io/org/debug:1' }],
};

const podSpecWithVolume = {
  containers: [{ name: 'app', image: 'nginx' }],
  volumes: [{ name: 'model', image: { reference: 'ghcr.io/acme/model:v1' } }],
};

describe('extractImageSites', () => {
  test('a Pod: init, regular and ephemeral containers, in that order, with their pointers', () => {
    expect(extractImageSites('Pod', { spec: podSpec })).toEqual([
      {
        image: 'busybox:1.36',
        pointer: '/spec/initContainers/0/image',
        containerName: 'init',
        field: 'initContainers',
      },
      {
        image: 'ghcr.io/kyverno/test-verify-image:signed',
        pointer: '/spec/containers/0/image',
        containerName: 'app',
        field: 'containers',
      },
      { image: 'nginx', pointer: '/spec/containers/1/image', containerName: 'sidecar', field: 'containers' },
      {
        image: 'ghcr.io/org/debug:1',
        pointer: '/spec/ephemeralContainers/0/image',
        containerName: 'debugger',
        field: 'ephemeralContainers',
      },
    ]);
  });

  test.each(['Deployment', 'StatefulSet', 'DaemonSet', 'ReplicaSet', 'ReplicationController', 'Job'])(
    'a %s: images under /spec/template/spec/',
    (kind) => {
      const sites = extractImageSites(kind, { spec: { template: { spec: podSpec } } });

      expect(sites.map((site) => site.pointer)).toEqual([
        '/spec/template/spec/initContainers/0/image',
        '/spec/template/spec/containers/0/image',
        '/spec/template/spec/containers/1/image',
        '/spec/template/spec/ephemeralContainers/0/image',
      ]);
    },
  );

  test('a CronJob: images under /spec/jobTemplate/spec/template/spec/', () => {
    const sites = extractImageSites('CronJob', {
      spec: { jobTemplate: { spec: { template: { spec: podSpec } } } },
    });

    expect(sites.map((site) => [site.pointer, site.image])).toEqual([
      ['/spec/jobTemplate/spec/template/spec/initContainers/0/image', 'busybox:1.36'],
      ['/spec/jobTemplate/spec/template/spec/containers/0/image', 'ghcr.io/kyverno/test-verify-image:signed'],
      ['/spec/jobTemplate/spec/template/spec/containers/1/image', 'nginx'],
      ['/spec/jobTemplate/spec/template/spec/ephemeralContainers/0/image', 'ghcr.io/org/debug:1'],
    ]);
  });

  test('image volumes come after the containers, named by the volume, at their reference', () => {
    const sites = extractImageSites('Pod', {
      spec: {
        containers: [{ name: 'app', image: 'nginx' }],
        volumes: [
          { name: 'scratch', emptyDir: {} },
          { name: 'model', image: { reference: 'ghcr.io/acme/model:v1', pullPolicy: 'IfNotPresent' } },
        ],
      },
    });

    expect(sites).toEqual([
      { image: 'nginx', pointer: '/spec/containers/0/image', containerName: 'app', field: 'containers' },
      {
        image: 'ghcr.io/acme/model:v1',
        pointer: '/spec/volumes/1/image/reference',
        containerName: 'model',
        field: IMAGE_VOLUMES,
      },
    ]);
  });

  test.each([
    [
      'Deployment',
      { spec: { template: { spec: podSpecWithVolume } } },
      '/spec/template/spec/volumes/0/image/reference',
    ],
    [
      'Job',
      { spec: { template: { spec: podSpecWithVolume } } },
      '/spec/template/spec/volumes/0/image/reference',
    ],
    [
      'CronJob',
      { spec: { jobTemplate: { spec: { template: { spec: podSpecWithVolume } } } } },
      '/spec/jobTemplate/spec/template/spec/volumes/0/image/reference',
    ],
  ])('a %s: image volumes of its pod template', (kind, object, pointer) => {
    expect(extractImageSites(kind, object).filter((site) => site.field === IMAGE_VOLUMES)).toEqual([
      { image: 'ghcr.io/acme/model:v1', pointer, containerName: 'model', field: IMAGE_VOLUMES },
    ]);
  });

  test.each([
    ['no image', { name: 'config', configMap: { name: 'app' } }],
    ['an image without a reference', { name: 'empty', image: { pullPolicy: 'Always' } }],
    ['a reference that is not a string', { name: 'numeric', image: { reference: 42 } }],
    ['an image that is not an object', { name: 'text', image: 'nginx' }],
    ['a null volume', null],
  ])('a volume with %s is left out', (_name, volume) => {
    expect(extractImageSites('Pod', { spec: { volumes: [volume] } })).toEqual([]);
  });

  test('volumes that are not a list have no images', () => {
    expect(
      extractImageSites('Pod', { spec: { volumes: { model: { image: { reference: 'nginx' } } } } }),
    ).toEqual([]);
  });

  test('custom image extractors replace the built-in paths, image volumes included', () => {
    const object = { spec: podSpecWithVolume };
    const sites = extractImageSites('Pod', object, [
      { path: '/spec/containers/*', value: 'image', key: 'name' },
    ]);

    expect(sites.map((site) => site.pointer)).toEqual(['/spec/containers/0/image']);
  });

  test('an unknown kind has no images', () => {
    expect(extractImageSites('ConfigMap', { spec: podSpec })).toEqual([]);
    expect(extractImageSites('Service', { spec: { template: { spec: podSpec } } })).toEqual([]);
  });

  test('a container without a string image is left out; the others keep their index', () => {
    const sites = extractImageSites('Pod', {
      spec: {
        containers: [
          { name: 'broken' },
          { name: 'numeric', image: 42 },
          null,
          { name: 'ok', image: 'nginx' },
        ],
      },
    });

    expect(sites).toEqual([
      { image: 'nginx', pointer: '/spec/containers/3/image', containerName: 'ok', field: 'containers' },
    ]);
  });

  test('an unnamed container gets an empty name', () => {
    expect(extractImageSites('Pod', { spec: { containers: [{ image: 'nginx' }] } })[0]!.containerName).toBe(
      '',
    );
  });

  test.each([
    ['no object', undefined],
    ['no spec', { metadata: {} }],
    ['a spec that is not an object', { spec: 'x' }],
    ['containers that are not a list', { spec: { containers: { image: 'nginx' } } }],
  ])('%s -> no images', (_name, object) => {
    expect(extractImageSites('Pod', object)).toEqual([]);
  });

  test('a Deployment without a template has no images', () => {
    expect(extractImageSites('Deployment', { spec: { replicas: 1 } })).toEqual([]);
  });
});
