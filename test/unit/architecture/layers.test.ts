/**
 * The dependency rule (docs/architecture.md) is enforced by the lint step: these imports, each
 * against the rule, are refused by the project's own layer configuration (eslint.layers.mjs).
 */
import { ESLint } from 'eslint';
import tseslint from 'typescript-eslint';
import { layers } from '../../../eslint.layers.mjs';

const eslint = new ESLint({
  cwd: `${__dirname}/../../..`,
  overrideConfigFile: true,
  overrideConfig: [{ files: ['**/*.ts'], languageOptions: { parser: tseslint.parser } }, ...layers],
});

async function refusals(filePath: string, source: string): Promise<string[]> {
  const [result] = await eslint.lintText(source, { filePath });
  return (result?.messages ?? []).map((message) => `${message.ruleId ?? ''}: ${message.message}`);
}

describe('imports against the dependency rule fail the lint step', () => {
  test.each([
    ['lib/verify/example.ts', "import type { Policy } from '../policy/types';"],
    ['lib/verify/example.ts', "import { readFile } from 'node:fs/promises';"],
    ['lib/model/example.ts', "import type { PolicySet } from '../policy/policy-set';"],
    ['lib/policy/compile/example.ts', "import { RegistryClient } from '../../oci/registry';"],
    ['lib/decision/example.ts', "import type { ImageSource } from '../ports';"],
    ['lib/review/example.ts', "import { UndiciTransport } from '../oci/transport';"],
    ['lib/review/example.ts', "import { S3Client } from '@aws-sdk/client-s3';"],
    ['lib/oci/example.ts', "import { createRuntime } from '../runtime';"],
    ['lib/observability/example.ts', "import type { Runtime } from '../runtime';"],
  ])('%s: %s', async (filePath, source) => {
    const messages = await refusals(filePath, source);
    expect(messages).toHaveLength(1);
    expect(messages[0]).toMatch(/^no-restricted-imports: /);
  });

  test.each([
    ['lib/verify/example.ts', "import type { ImageReference } from '../model/image';"],
    ['lib/policy/example.ts', "import type { AttestorSpec } from '../verify/spec';"],
    ['lib/review/example.ts', "import type { ImageSource } from '../ports';"],
    ['lib/oci/example.ts', "import type { RegistryTransport } from '../ports';"],
    ['lib/cli/example.ts', "import { createRuntime } from '../runtime';"],
  ])('%s may: %s', async (filePath, source) => {
    expect(await refusals(filePath, source)).toEqual([]);
  });
});
