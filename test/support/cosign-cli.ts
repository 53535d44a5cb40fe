/**
 * The real cosign 3 program for tests: Debian's `cosign` package (unstable), unpacked by
 * `scripts/ensure-cosign.sh` into `.cache/tools/cosign/` (`npm test` and `.ci/run` run it through
 * `scripts/ensure-system-deps.sh`), or the binary named by `IMAGEGATE_COSIGN`.
 *
 * Every run gets a throw-away HOME (cosign keeps TUF metadata in `~/.sigstore`), a Docker config
 * with the registry credentials, and no TUF access: signing configs and trusted roots are always
 * passed as files, so nothing leaves 127.0.0.1.
 */
import { accessSync, constants, readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { runChecked, type RunResult } from './processes';
import type { RegistryAuth } from './images';

const REPO_ROOT = resolve(__dirname, '../..');
const CACHE = join(REPO_ROOT, '.cache/tools/cosign');
const CACHED_BINARY = join(CACHE, 'root/usr/bin/cosign');
const ENSURE = 'bash scripts/ensure-cosign.sh';

/**
 * The cosign binary's path. Throws, naming the tool and the command that gets it, when it is
 * not there: the real-tool tests never skip.
 */
export function cosignPath(): string {
  const path = process.env.IMAGEGATE_COSIGN || CACHED_BINARY;
  try {
    accessSync(path, constants.X_OK);
  } catch {
    throw new Error(
      `cosign 3 is needed by the real-tool tests and was not found at ${path}. ` +
        `Get it with \`${ENSURE}\` (run from ${REPO_ROOT}; it downloads Debian's cosign package into ` +
        `.cache/tools/cosign/), or set IMAGEGATE_COSIGN to a cosign 3 binary.`,
    );
  }
  return path;
}

/** The Debian package version of the cached cosign (e.g. `3.1.1-2`), or `undefined` for IMAGEGATE_COSIGN. */
export function cosignDebianVersion(): string | undefined {
  if (process.env.IMAGEGATE_COSIGN) return undefined;
  try {
    return readFileSync(join(CACHE, 'debian-version'), 'utf8').trim();
  } catch {
    return undefined;
  }
}

/** A cosign runner with its own HOME and Docker config (credentials for `registries`). */
export interface CosignCli {
  /** `cosign <args>` with `cwd` = the runner's folder; rejects with cosign's stderr on failure. */
  run(args: readonly string[], options?: { env?: Record<string, string> }): Promise<RunResult>;
  /** The runner's folder (keys, signing configs and trusted roots can be written there). */
  readonly dir: string;
  /** Writes `text` to `name` in {@link dir} and returns its path. */
  file(name: string, text: string): Promise<string>;
}

/**
 * Prepares a runner in `dir` (an existing temporary folder). `auth` maps registry hosts to the
 * credentials cosign should send them, through `$DOCKER_CONFIG/config.json`.
 */
export async function cosignCli(dir: string, auth: Record<string, RegistryAuth> = {}): Promise<CosignCli> {
  const binary = cosignPath();
  const home = join(dir, 'home');
  const dockerConfig = join(dir, 'docker');
  await mkdir(home, { recursive: true });
  await mkdir(dockerConfig, { recursive: true });
  const auths = Object.fromEntries(
    Object.entries(auth).map(([host, { username, password }]) => [
      host,
      { auth: Buffer.from(`${username}:${password}`).toString('base64') },
    ]),
  );
  await writeFile(join(dockerConfig, 'config.json'), JSON.stringify({ auths }));
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: home,
    DOCKER_CONFIG: dockerConfig,
    // Keys are generated and read without a password.
    COSIGN_PASSWORD: '',
  };
  return {
    dir,
    run: (args, options = {}) =>
      runChecked(binary, args, { cwd: dir, env: { ...env, ...options.env }, timeoutMs: 60_000 }),
    file: async (name, text) => {
      const path = join(dir, name);
      await writeFile(path, text);
      return path;
    },
  };
}
