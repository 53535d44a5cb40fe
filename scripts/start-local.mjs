#!/usr/bin/env node
// `npm start`: runs imagegate locally under serverless offline (API Gateway HTTP API + Lambda)
// on http://127.0.0.1:3000. No AWS account, credentials or network are needed.
//
//   npm start                                   # policies from ./policies
//   IMAGEGATE_POLICIES=./examples/policies npm start
//   npm start -- --httpPort 3100 --lambdaPort 3102
//
// Only provider.environment in serverless.yml reaches the handler, so IMAGEGATE_* settings are
// forwarded from this shell through `${env:…}` there; setting them here is enough.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const oslsBin = path.join(repoRoot, 'node_modules', 'osls', 'bin', 'serverless.js');
// The project pins Node 22 as a devDependency; prefer it over whichever node runs this script.
const node22 = path.join(repoRoot, 'node_modules', 'node', 'bin', 'node');
const nodeBin = existsSync(node22) ? node22 : process.execPath;

if (!existsSync(oslsBin)) {
  console.error(`start-local: ${oslsBin} is missing; run \`npm ci\` first.`);
  process.exit(1);
}

const args = process.argv.slice(2);
const option = (name, fallback) => {
  const i = args.findIndex((a) => a === `--${name}` || a.startsWith(`--${name}=`));
  if (i < 0) return fallback;
  return args[i].includes('=') ? args[i].slice(args[i].indexOf('=') + 1) : (args[i + 1] ?? fallback);
};
const host = option('host', '127.0.0.1');
const httpPort = Number(option('httpPort', '3000'));
const hostArgs = args.some((a) => a === '--host' || a.startsWith('--host=')) ? [] : ['--host', host];

const env = { ...process.env };
const defaults = {
  IMAGEGATE_POLICIES: './policies',
  // serverless-offline needs credentials to exist, not to be valid.
  AWS_ACCESS_KEY_ID: 'local',
  AWS_SECRET_ACCESS_KEY: 'local',
  SLS_TELEMETRY_DISABLED: '1',
  SLS_NOTIFICATIONS_MODE: 'off',
};
for (const [key, value] of Object.entries(defaults)) {
  if (!env[key]) env[key] = value;
}

// Spawn node directly (not npx or a shell) so child.pid is the server itself.
const child = spawn(nodeBin, [oslsBin, 'offline', 'start', '--param=mode=local', ...hostArgs, ...args], {
  cwd: repoRoot,
  env,
  stdio: 'inherit',
});

let stopping = false;
const stop = (signal) => {
  stopping = true;
  // Ctrl-C already reached the child through the terminal's process group; a second signal is harmless.
  if (child.exitCode === null && child.signalCode === null) child.kill(signal);
};
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => stop(signal));

// `npm start` runs this under `sh -c`, and a SIGTERM sent to npm stops npm and sh but never reaches
// us. Once our parent is gone we are re-parented, so stop the server rather than leave it running.
const parent = process.ppid;
setInterval(() => {
  if (process.ppid !== parent && !stopping) stop('SIGTERM');
}, 500).unref();

child.on('error', (err) => {
  console.error(`start-local: could not start ${nodeBin}: ${err.message}`);
  process.exit(1);
});

child.on('exit', (code, signal) => {
  if (signal) process.exit(stopping ? 0 : 128 + (signalNumber[signal] ?? 1));
  process.exit(code ?? 0);
});

const signalNumber = { SIGHUP: 1, SIGINT: 2, SIGKILL: 9, SIGTERM: 15 };

// Announce once the HTTP port answers (serverless-esbuild bundles first, which takes a few seconds).
const base = `http://${host}:${httpPort}`;
const started = Date.now();
const poll = () => {
  if (child.exitCode !== null || child.signalCode !== null || stopping) return;
  const req = http.request(`${base}/`, { method: 'HEAD', agent: false, timeout: 1000 }, (res) => {
    res.resume();
    console.log(
      [
        '',
        `imagegate listening on ${base} (POST /admit), policies from ${env.IMAGEGATE_POLICIES}` +
          ` — ready in ${((Date.now() - started) / 1000).toFixed(1)} s`,
        `  curl -s -X POST ${base}/admit -H 'content-type: application/json' --data-binary @examples/reviews/pod-signed.json`,
        'Ctrl-C stops it.',
        '',
      ].join('\n'),
    );
  });
  req.once('timeout', () => req.destroy());
  req.once('error', () => setTimeout(poll, 200));
  req.end();
};
poll();
