#!/usr/bin/env node
// `npm run load`: a bounded load test of the webhook, on 127.0.0.1 only.
//
//   npm run load                                   # 16 connections for 10 s
//   npm run load -- --connections 32 --duration 20 --cold --json
//
// It starts a throw-away registry (Debian's docker-registry, as the tests do), pushes and signs
// images, serves the webhook's HTTP adapter (lib/lambda/http.ts, the code the Lambda runs) from a
// child process on 127.0.0.1, and drives it with autocannon at a fixed concurrency for a fixed
// time with a mix of signed, unsigned, wrongly signed, unmatched and garbage requests. Every
// answer is checked: the expected decision for each kind of request, HTTP 400 for garbage, and
// never a 5xx. It prints throughput, latency percentiles and the counts, stops everything it
// started (by PID), and exits non-zero when any answer was wrong or any 5xx was seen.
//
// --cold turns the verdict and tag caches off, so every review fetches and verifies again.
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

const MAX_DURATION_S = 120;
const MAX_CONNECTIONS = 256;

// ---- child mode: serve the webhook -------------------------------------------------------------
if (process.argv[2] === '--serve') {
  await serve(process.argv[3]);
} else {
  await main();
}

/** The webhook's HTTP adapter behind node:http on 127.0.0.1:0; prints {"port": N} once listening. */
async function serve(bundle) {
  const { readConfig, createRuntime, handleAdmissionEvent } = createRequire(import.meta.url)(bundle);
  let faults = 0;
  const log = {
    info: () => undefined,
    warn: () => undefined,
    error: (message, ...attributes) => {
      faults++;
      process.stderr.write(`webhook error: ${message} ${JSON.stringify(attributes)}\n`);
    },
  };
  const runtime = createRuntime(readConfig(process.env), log);
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (chunk) => chunks.push(chunk));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://127.0.0.1');
      const event = {
        body: Buffer.concat(chunks).toString('utf8'),
        isBase64Encoded: false,
        queryStringParameters: Object.fromEntries(url.searchParams),
      };
      handleAdmissionEvent(event, runtime).then(
        (result) => {
          res.writeHead(result.statusCode ?? 200, result.headers ?? {});
          res.end(result.body ?? '');
        },
        (error) => {
          faults++;
          process.stderr.write(`webhook threw: ${error?.stack ?? error}\n`);
          res.writeHead(500, { 'content-type': 'text/plain' });
          res.end('internal error');
        },
      );
    });
  });
  server.keepAliveTimeout = 30_000;
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  process.stdout.write(`${JSON.stringify({ port: server.address().port })}\n`);
  const stop = () => {
    server.close();
    server.closeAllConnections();
    void runtime.close().finally(() => process.exit(faults > 0 ? 3 : 0));
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  // Never outlive the parent.
  const parent = process.ppid;
  setInterval(() => {
    if (process.ppid !== parent) stop();
  }, 500).unref();
}

// ---- parent mode ---------------------------------------------------------------------------------
async function main() {
  const { values } = parseArgs({
    options: {
      connections: { type: 'string', default: '16' },
      duration: { type: 'string', default: '10' },
      cold: { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
    },
  });
  const connections = bounded('connections', values.connections, 1, MAX_CONNECTIONS);
  const duration = bounded('duration', values.duration, 1, MAX_DURATION_S);

  const deps = spawnSync('bash', ['scripts/ensure-system-deps.sh'], {
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  if (deps.status !== 0) process.exit(deps.status ?? 1);

  const require = createRequire(import.meta.url);
  const autocannon = require('autocannon');
  const { build } = require('esbuild');

  mkdirSync('node_modules/.cache', { recursive: true });
  const dir = mkdtempSync(join('node_modules/.cache', 'imagegate-load-'));
  const bundle = join(process.cwd(), dir, 'load.cjs');
  let scenario;
  let child;
  try {
    await build({
      stdin: {
        contents: [
          "export { startKyvernoScenario, podReview } from './test/support/scenario';",
          "export { readConfig } from './lib/config';",
          "export { createRuntime } from './lib/runtime';",
          "export { handleAdmissionEvent } from './lib/lambda/http';",
        ].join('\n'),
        resolveDir: process.cwd(),
        loader: 'ts',
        sourcefile: 'load-entry.ts',
      },
      outfile: bundle,
      bundle: true,
      platform: 'node',
      target: 'node22',
      format: 'cjs',
      logLevel: 'warning',
    });
    const { startKyvernoScenario, podReview } = require(bundle);

    log(values.json, 'starting a registry and signing images…');
    scenario = await startKyvernoScenario();
    const policies = await scenario.policyFolder('current');
    const env = {
      ...process.env,
      IMAGEGATE_POLICIES: policies,
      IMAGEGATE_INSECURE_REGISTRIES: scenario.registry.host,
      IMAGEGATE_LOG_LEVEL: 'ERROR',
      ...(values.cold ? { IMAGEGATE_VERIFY_CACHE_SECONDS: '0', IMAGEGATE_TAG_CACHE_SECONDS: '0' } : {}),
    };
    child = spawn(process.execPath, [new URL(import.meta.url).pathname, '--serve', bundle], {
      env,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const port = await new Promise((resolve, reject) => {
      let out = '';
      const timer = setTimeout(() => reject(new Error('the webhook did not start in 20 s')), 20_000);
      child.stdout.on('data', (chunk) => {
        out += chunk;
        const line = out.split('\n').find((item) => item.startsWith('{'));
        if (line) {
          clearTimeout(timer);
          resolve(JSON.parse(line).port);
        }
      });
      child.once('exit', (code) => reject(new Error(`the webhook exited (${code}) before listening`)));
    });

    const review = (name, image) => JSON.stringify(podReview(name, [image]));
    const mix = [
      { kind: 'signed', body: review('signed', scenario.image('signed')), expect: allowedWithPatch },
      {
        kind: 'unsigned',
        body: review('unsigned', scenario.image('unsigned')),
        expect: denied('signature not found'),
      },
      { kind: 'signed', body: review('signed', scenario.image('signed')), expect: allowedWithPatch },
      { kind: 'garbage: not JSON', body: '{"apiVersion":', expect: badRequest },
      {
        kind: 'wrong key',
        body: review('wrongkey', scenario.image('wrongkey')),
        expect: denied('invalid signature'),
      },
      { kind: 'unmatched', body: review('unmatched', 'nginx:1.27'), expect: allowedUntouched },
      {
        kind: 'garbage: not a review',
        body: JSON.stringify({ apiVersion: 'v1', kind: 'Pod' }),
        expect: badRequest,
      },
      { kind: 'signed', body: review('signed', scenario.image('signed')), expect: allowedWithPatch },
      {
        kind: 'unsigned',
        body: review('unsigned', scenario.image('unsigned')),
        expect: denied('signature not found'),
      },
      {
        kind: 'garbage: nested 10 000 deep',
        body: `${'['.repeat(10_000)}${']'.repeat(10_000)}`,
        expect: badRequest,
      },
    ];
    const counts = {};
    let wrong = 0;
    let serverErrors = 0;
    const samples = [];
    const requests = mix.map((item) => ({
      method: 'POST',
      path: '/admit?timeout=10s',
      headers: { 'content-type': 'application/json' },
      body: item.body,
      onResponse: (status, body) => {
        const key = `${item.kind} -> ${status}`;
        counts[key] = (counts[key] ?? 0) + 1;
        if (status >= 500) serverErrors++;
        if (!item.expect(status, body)) {
          wrong++;
          if (samples.length < 5) samples.push({ kind: item.kind, status, body: String(body).slice(0, 300) });
        }
      },
    }));

    log(
      values.json,
      `driving http://127.0.0.1:${port}/admit with ${connections} connections for ${duration} s…`,
    );
    const result = await autocannon({
      url: `http://127.0.0.1:${port}`,
      connections,
      duration,
      requests,
      timeout: 15,
    });

    const summary = {
      connections,
      durationSeconds: duration,
      cold: values.cold,
      requests: result.requests.total,
      throughputPerSecond: Math.round(result.requests.average),
      latencyMs: {
        p50: result.latency.p50,
        p90: result.latency.p90,
        p99: result.latency.p99,
        max: result.latency.max,
      },
      http: result.statusCodeStats,
      connectionErrors: result.errors,
      timeouts: result.timeouts,
      serverErrors,
      wrongAnswers: wrong,
      answers: counts,
      ...(samples.length > 0 ? { wrongSamples: samples } : {}),
    };
    if (values.json) {
      process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
    } else {
      process.stdout.write(
        [
          '',
          `requests          ${summary.requests} in ${duration} s at ${connections} connections${values.cold ? ' (caches off)' : ''}`,
          `throughput        ${summary.throughputPerSecond} req/s`,
          `latency           p50 ${summary.latencyMs.p50} ms, p90 ${summary.latencyMs.p90} ms, p99 ${summary.latencyMs.p99} ms, max ${summary.latencyMs.max} ms`,
          `5xx               ${serverErrors}`,
          `wrong answers     ${wrong}`,
          `connection errors ${result.errors}, timeouts ${result.timeouts}`,
          'answers:',
          ...Object.entries(counts)
            .sort()
            .map(([key, count]) => `  ${key.padEnd(34)} ${count}`),
          ...samples.map((sample) => `wrong: ${JSON.stringify(sample)}`),
          '',
        ].join('\n'),
      );
    }
    const failed = serverErrors > 0 || wrong > 0 || result.errors > 0 || result.timeouts > 0;
    process.exitCode = failed ? 1 : 0;
  } finally {
    if (child && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 5_000))]);
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      if (child.exitCode === 3) {
        process.stderr.write('load: the webhook logged internal errors (see above)\n');
        process.exitCode = 1;
      }
    }
    await scenario?.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

function allowedWithPatch(status, body) {
  const response = reviewResponse(status, body);
  return response?.allowed === true && typeof response.patch === 'string';
}

function allowedUntouched(status, body) {
  const response = reviewResponse(status, body);
  return response?.allowed === true && response.patch === undefined;
}

function denied(reason) {
  return (status, body) => {
    const response = reviewResponse(status, body);
    return response?.allowed === false && String(response.status?.message).includes(reason);
  };
}

function badRequest(status, body) {
  if (status !== 400) return false;
  try {
    return typeof JSON.parse(body).error === 'string';
  } catch {
    return false;
  }
}

function reviewResponse(status, body) {
  if (status !== 200) return undefined;
  try {
    const review = JSON.parse(body);
    return review.kind === 'AdmissionReview' ? review.response : undefined;
  } catch {
    return undefined;
  }
}

function bounded(name, value, min, max) {
  const number = Number(value);
  if (!Number.isInteger(number) || number < min || number > max) {
    process.stderr.write(`load: --${name} must be a whole number from ${min} to ${max}\n`);
    process.exit(2);
  }
  return number;
}

function log(quiet, message) {
  if (!quiet) process.stderr.write(`load: ${message}\n`);
}
