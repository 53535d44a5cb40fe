/**
 * The dependency rule of docs/architecture.md, checked by ESLint (`no-restricted-imports`):
 *
 *   functions/, lib/cli, bench/ → lib/runtime.ts → adapters → lib/ports.ts ← lib/review
 *     → pure modules (policy, verify, decision, workload) → lib/model → lib/errors.ts
 *
 * Each entry names the folders of lib/ that files of a layer must not import. Imports are
 * relative, so a folder is matched as a path segment after one or more `../`.
 */

/** Folders (and root modules) of lib/, by layer. */
const ADAPTERS = ['oci', 'aws', 'fs', 'lambda', 'auth', 'secrets'];
/** Everything above the pure modules: the use case, the adapters and the composition root. */
const ABOVE_PURE = [
  'review',
  'observability',
  'cache',
  'cli',
  'runtime',
  'ports',
  'config',
  'deadline',
  ...ADAPTERS,
];
const IO_PACKAGES = [
  'node:fs',
  'node:fs/promises',
  'node:http',
  'node:https',
  'node:net',
  'node:dns',
  'undici',
];

/** A `no-restricted-imports` pattern refusing imports of `folders` from a file of `layer`. */
function refuse(layer, folders, why) {
  return {
    regex: `^(\\.\\./)+(${folders.join('|')})(/|$)`,
    message: `${layer} must not import this: ${why} (docs/architecture.md, the dependency rule).`,
  };
}

const io = (layer) => ({
  group: IO_PACKAGES,
  message: `${layer} is pure: I/O belongs in an adapter (docs/architecture.md).`,
});
const aws = (layer) => ({
  group: ['@aws-sdk/*'],
  message: `${layer} must not use the AWS SDK: lib/aws is its adapter.`,
});

/** The entry for a pure layer: none of `folders`, no I/O package, no AWS SDK. */
function pureLayer(name, files, layer, folders, why) {
  return {
    name,
    files,
    rules: {
      'no-restricted-imports': ['error', { patterns: [refuse(layer, folders, why), io(layer), aws(layer)] }],
    },
  };
}

/** One flat-config entry per layer. */
export const layers = [
  {
    name: 'layers/model',
    files: ['lib/model/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              regex: '^\\.\\./(?!errors$)',
              message: 'lib/model is plain shared data: it imports only lib/errors.ts.',
            },
            io('lib/model'),
            aws('lib/model'),
          ],
        },
      ],
    },
  },
  pureLayer(
    'layers/verify',
    ['lib/verify/**/*.ts'],
    'lib/verify',
    ['policy', 'admission', 'decision', 'workload', ...ABOVE_PURE],
    'the verifier sees only model data and its own specs; the policy compiler builds those specs',
  ),
  pureLayer(
    'layers/pure',
    ['lib/policy/**/*.ts', 'lib/decision/**/*.ts', 'lib/workload/**/*.ts', 'lib/admission/**/*.ts'],
    'a pure module',
    ABOVE_PURE,
    'pure modules depend only on other pure modules and lib/model',
  ),
  {
    name: 'layers/review',
    files: ['lib/review/**/*.ts', 'lib/deadline.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            refuse(
              'lib/review',
              ['observability', 'cli', 'runtime', 'config', ...ADAPTERS],
              'the use case reaches adapters only through lib/ports.ts',
            ),
            io('lib/review'),
            aws('lib/review'),
          ],
        },
      ],
    },
  },
  {
    name: 'layers/adapters',
    files: [
      'lib/oci/**/*.ts',
      'lib/aws/**/*.ts',
      'lib/fs/**/*.ts',
      'lib/auth/**/*.ts',
      'lib/cache/**/*.ts',
      'lib/secrets.ts',
      'lib/observability/**/*.ts',
      'lib/ports.ts',
      'lib/config.ts',
    ],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            refuse(
              'an adapter',
              ['cli', 'runtime'],
              'only entry points (functions/, lib/cli, bench/) use the composition root',
            ),
          ],
        },
      ],
    },
  },
  {
    name: 'layers/lambda',
    files: ['lib/lambda/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            refuse(
              'lib/lambda',
              ['cli', 'runtime'],
              'the HTTP adapter is handed its dependencies by functions/admit.ts',
            ),
          ],
        },
      ],
    },
  },
];
