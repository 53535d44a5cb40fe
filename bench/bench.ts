/**
 * `npm run bench`: the latency, request and memory figures of the "fast admission" targets,
 * measured in one run on this machine against a real registry (Debian docker-registry) on
 * loopback. Prints a table and writes bench/results.json. See README "Performance".
 */
import { spawn, spawnSync } from 'node:child_process';
import { statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import { build } from 'esbuild';
import { readConfig } from '../lib/config';
import { BODY_BYTES_IN_FLIGHT, IMAGE_BYTE_BUDGET, REVIEW_BYTE_BUDGET } from '../lib/model/byte-budget';
import {
  MAX_ATTESTATION_BYTES,
  MAX_BUNDLE_BYTES,
  MAX_PAYLOAD_BYTES,
  MAX_REFERRERS,
  MAX_SIGNATURE_LAYERS,
} from '../lib/model/cosign-format';
import { createRuntime } from '../lib/runtime';
import { answerAdmissionReview } from '../lib/review/webhook';
import { generateKeyPair, signImage } from '../test/support/cosign-signer';
import { startHostileRegistry } from '../test/support/hostile-registry';
import { pushImage } from '../test/support/images';
import { startCountingProxy } from '../test/support/registry';
import { deploymentReview, podReview, samplePolicy, startKyvernoScenario } from '../test/support/scenario';

type Handler = (
  event: APIGatewayProxyEventV2,
  context: Context,
) => Promise<APIGatewayProxyStructuredResultV2>;

/** npm runs scripts from the package root. */
const REPO_ROOT = process.cwd();
const INJECTED_RTT_MS = 50;
/** tag -> digest, then the `.sig` manifest (needs the digest), then its payload blob (needs the manifest). */
const ROUND_TRIPS_FLOOR = 3;
const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };
/** The images of the hostile Pod, and how many such Pods are reviewed at once in the second run. */
const HOSTILE_IMAGES = 20;
const HOSTILE_CONCURRENT_PODS = 4;
/**
 * The peak RSS this process stays under for any one review, whatever the registries send
 * (docs/security.md "Bounds on memory, CPU and caches"); the Lambda has 1024 MB.
 */
const PROCESS_CEILING_MIB = 512;
const HOSTILE_CHILD = 'hostile-pod-child';

function percentile(samples: number[], p: number): number {
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? NaN;
}
const round = (value: number, digits = 3) => Number(value.toFixed(digits));
const median = (samples: number[]) => percentile(samples, 50);

function event(review: unknown): APIGatewayProxyEventV2 {
  return {
    version: '2.0',
    routeKey: 'POST /admit',
    rawPath: '/admit',
    rawQueryString: '',
    headers: {},
    requestContext: {} as APIGatewayProxyEventV2['requestContext'],
    body: JSON.stringify(review),
    isBase64Encoded: false,
  };
}

async function main(): Promise<void> {
  const scenario = await startKyvernoScenario();
  const direct = await startCountingProxy(scenario.registry.host);
  const slow = await startCountingProxy(scenario.registry.host, { delayMs: INJECTED_RTT_MS });
  try {
    const repository = 'bench/app';
    const tags = Array.from({ length: 15 }, (_, index) => `v${index}`);
    for (const tag of tags) {
      const digest = await pushImage(scenario.registry.host, repository, tag);
      await signImage(scenario.registry.host, repository, digest, scenario.policyKey.privateKey);
    }
    const key = scenario.policyKey.publicKeyPem;
    const policies = (host: string) =>
      scenario.folderWith({
        'check-image.yaml': samplePolicy('current', `${host}/bench/*`, key),
        'other-registry.yaml': samplePolicy('current', 'ghcr.io/other/*', key).replace(
          'name: check-image',
          'name: other',
        ),
        'audit.yaml': samplePolicy('original', 'quay.io/team/*', key, 'Audit').replace(
          'name: check-image',
          'name: audit',
        ),
      });
    const image = (host: string, index: number) => `${host}/${repository}:${tags[index] ?? 'v0'}`;

    // Warm: the real handler (middy and all), verdicts cached, in this process.
    // Decision records and EMF metrics go through the global console (POWERTOOLS_DEV), which is
    // muted here: their formatting is measured, and a terminal or pipe does not pile up output.
    let logLines = 0;
    for (const method of ['log', 'info', 'warn', 'error', 'debug'] as const) {
      console[method] = () => {
        logLines++;
      };
    }
    Object.assign(process.env, {
      POWERTOOLS_DEV: 'true',
      IMAGEGATE_POLICIES: await policies(direct.host),
      IMAGEGATE_INSECURE_REGISTRIES: [direct.host, slow.host].join(','),
      IMAGEGATE_LOG_LEVEL: 'ERROR',
    });
    const { handler } = (await import('../functions/admit')) as { handler: Handler };
    const context = {} as Context;
    const pod1 = event(podReview('pod1', [image(direct.host, 0)]));
    const deploy10 = event(
      deploymentReview(
        'deploy10',
        Array.from({ length: 10 }, (_, i) => image(direct.host, i)),
      ),
    );
    const timeOf = async (input: APIGatewayProxyEventV2) => {
      const started = performance.now();
      const result = await handler(input, context);
      const elapsed = performance.now() - started;
      if (!result.body?.includes('"allowed":true'))
        throw new Error(`bench review not allowed: ${result.body}`);
      return elapsed;
    };
    for (let i = 0; i < 300; i++) await Promise.all([timeOf(pod1), timeOf(deploy10)]);
    direct.reset();
    const warm = { pod1: [] as number[], deploy10: [] as number[] };
    for (let i = 0; i < 2_000; i++) {
      warm.pod1.push(await timeOf(pod1));
      warm.deploy10.push(await timeOf(deploy10));
    }
    const warmRequests = direct.count() / 4_000;

    // Memory: RSS and live heap after 1k and after 20k warm reviews (the verdict cache is bounded).
    const gc = (globalThis as { gc?: () => void }).gc;
    const memory = () => {
      gc?.();
      const usage = process.memoryUsage();
      return { rss: usage.rss / 2 ** 20, heap: usage.heapUsed / 2 ** 20 };
    };
    for (let i = 0; i < 1_000; i++) await timeOf(i % 2 ? pod1 : deploy10);
    const after1k = memory();
    for (let i = 1_000; i < 20_000; i++) await timeOf(i % 2 ? pod1 : deploy10);
    const after20k = memory();

    // Cold: a fresh runtime (no verdicts, no tags, no tokens, no connections) per review, 5
    // distinct images, every registry request delayed by the injected round-trip time.
    const coldConfig = readConfig({
      IMAGEGATE_POLICIES: await policies(slow.host),
      IMAGEGATE_INSECURE_REGISTRIES: slow.host,
    });
    const coldTimes: number[] = [];
    let coldRequests = 0;
    for (let run = 0; run < 9; run++) {
      const runtime = createRuntime(coldConfig, quiet);
      const images = Array.from({ length: 5 }, (_, i) => image(slow.host, (run * 5 + i) % tags.length));
      slow.reset();
      const started = performance.now();
      const answer = await answerAdmissionReview(podReview(`cold${run}`, images), runtime);
      coldTimes.push(performance.now() - started);
      coldRequests = slow.count();
      if (!answer.response.allowed) throw new Error('cold review was not allowed');
      await runtime.close();
    }
    const coldMedian = median(coldTimes);
    const floorMs = ROUND_TRIPS_FLOOR * INJECTED_RTT_MS;

    // Dedupe and single flight: verifications actually performed.
    const dedupeRuntime = createRuntime(
      readConfig({
        IMAGEGATE_POLICIES: await policies(direct.host),
        IMAGEGATE_INSECURE_REGISTRIES: direct.host,
      }),
      quiet,
    );
    await answerAdmissionReview(
      deploymentReview('eight', Array<string>(8).fill(image(direct.host, 11))),
      dedupeRuntime,
    );
    const flightRuntime = createRuntime(
      readConfig({
        IMAGEGATE_POLICIES: await policies(direct.host),
        IMAGEGATE_INSECURE_REGISTRIES: direct.host,
      }),
      quiet,
    );
    await Promise.all(
      Array.from({ length: 100 }, (_, i) =>
        answerAdmissionReview(podReview(`c${i}`, [image(direct.host, 12)]), flightRuntime),
      ),
    );

    // Cold start: the Lambda bundle as serverless-esbuild builds it, required by a fresh node.
    const bundle = join(os.tmpdir(), `imagegate-bench-${process.pid}.cjs`);
    await build({
      entryPoints: [join(REPO_ROOT, 'functions/admit.ts')],
      outfile: bundle,
      bundle: true,
      platform: 'node',
      target: 'node22',
      format: 'cjs',
      keepNames: true,
      logLevel: 'warning',
    });
    const bundleBytes = statSync(bundle).size;
    const inits: number[] = [];
    for (let i = 0; i < 15; i++) {
      const run = spawnSync(
        process.execPath,
        [
          '-e',
          `const t=performance.now();require(${JSON.stringify(bundle)});process.stdout.write(String(performance.now()-t))`,
        ],
        { cwd: REPO_ROOT, env: { ...process.env, IMAGEGATE_POLICIES: './policies' }, encoding: 'utf8' },
      );
      inits.push(Number(run.stdout));
    }

    const hostile = await measureHostilePods((files) => scenario.folderWith(files));

    const results = {
      machine: `${os.cpus()[0]?.model ?? 'unknown'} x${os.cpus().length}, ${round(os.totalmem() / 2 ** 30, 1)} GiB, Node ${process.version}, ${os.platform()} ${os.release()}`,
      measured_at: new Date().toISOString(),
      warm: {
        pod1: { p50_ms: round(percentile(warm.pod1, 50)), p99_ms: round(percentile(warm.pod1, 99)) },
        deploy10: {
          p50_ms: round(percentile(warm.deploy10, 50)),
          p99_ms: round(percentile(warm.deploy10, 99)),
        },
        policies: 3,
        reviews: 4_000,
      },
      cold: {
        images: 5,
        injected_rtt_ms: INJECTED_RTT_MS,
        round_trips_floor: ROUND_TRIPS_FLOOR,
        floor_ms: floorMs,
        median_ms: round(coldMedian, 1),
        ratio: round(coldMedian / floorMs, 3),
        runs: coldTimes.length,
      },
      registry_requests: { cold_review: coldRequests, warm_review: warmRequests },
      dedupe: { containers: 8, verifications: dedupeRuntime.cache?.stats.verifications ?? NaN },
      single_flight: {
        concurrent_reviews: 100,
        verifications: flightRuntime.cache?.stats.verifications ?? NaN,
      },
      cold_start: { bundle_bytes: bundleBytes, init_ms_median: round(median(inits), 1), runs: inits.length },
      hostile_pod: hostile,
      memory: {
        rss_mb_after_1k: round(after1k.rss, 1),
        rss_mb_after_20k: round(after20k.rss, 1),
        heap_mb_after_1k: round(after1k.heap, 1),
        heap_mb_after_20k: round(after20k.heap, 1),
        gc_exposed: gc !== undefined,
      },
    };
    writeFileSync(join(REPO_ROOT, 'bench', 'results.json'), `${JSON.stringify(results, null, 2)}\n`);
    const rows: [string, string, string][] = [
      [
        'warm Pod, 1 image (in-process)',
        `p50 ${results.warm.pod1.p50_ms} ms, p99 ${results.warm.pod1.p99_ms} ms`,
        'p99 ≤ 2 ms',
      ],
      [
        'warm Deployment, 10 containers',
        `p50 ${results.warm.deploy10.p50_ms} ms, p99 ${results.warm.deploy10.p99_ms} ms`,
        'p99 ≤ 2 ms',
      ],
      [
        `cold Pod, 5 images, +${INJECTED_RTT_MS} ms/request`,
        `median ${results.cold.median_ms} ms = ${results.cold.ratio} x floor (${floorMs} ms)`,
        '≤ 1.25 x floor',
      ],
      ['registry requests per review', `cold ${coldRequests}, warm ${warmRequests}`, 'warm 0'],
      ['8 containers, one image', `${results.dedupe.verifications} verification(s)`, '1'],
      ['100 concurrent reviews, one image', `${results.single_flight.verifications} verification(s)`, '1'],
      [
        'Lambda bundle',
        `${(bundleBytes / 2 ** 20).toFixed(2)} MiB, init median ${results.cold_start.init_ms_median} ms`,
        'init ≤ 150 ms',
      ],
      [
        `hostile Pod, ${HOSTILE_IMAGES} images, peak RSS`,
        `${hostile.one_pod.peak_rss_mib} MiB (${hostile.one_pod.baseline_rss_mib} before), ${hostile.one_pod.could_not_check}/${HOSTILE_IMAGES} could not check`,
        `≤ ${PROCESS_CEILING_MIB} MiB`,
      ],
      [
        `${HOSTILE_CONCURRENT_PODS} hostile Pods at once, peak RSS`,
        `${hostile.concurrent_pods.peak_rss_mib} MiB, at most ${hostile.registry.most_body_mib_in_flight} MiB of bodies in flight`,
        `≤ ${PROCESS_CEILING_MIB} MiB; bodies ≤ ${BODY_BYTES_IN_FLIGHT / 2 ** 20} MiB`,
      ],
      [
        'RSS (heap) after 1k / 20k warm reviews',
        `${results.memory.rss_mb_after_1k} (${results.memory.heap_mb_after_1k}) / ${results.memory.rss_mb_after_20k} (${results.memory.heap_mb_after_20k}) MiB`,
        'bounded',
      ],
    ];
    const width = Math.max(...rows.map(([name]) => name.length));
    const print = (line: string) => process.stdout.write(`${line}\n`);
    print(`imagegate bench — ${results.machine}`);
    for (const [name, value, target] of rows) print(`${name.padEnd(width)}  ${value.padEnd(52)}  ${target}`);
    print(`wrote bench/results.json (the handler's ${logLines} log and metric lines were muted)`);
  } finally {
    await Promise.all([direct.stop(), slow.stop()]);
    await scenario.stop();
  }
}

/**
 * The worst Pod we can build: {@link HOSTILE_IMAGES} images on a hostile registry (127.0.0.1),
 * each with the most Sigstore bundles of the largest size, the most `.sig` layers of the largest
 * payload and the most `.att` layers of the largest attestation, under a policy that reads all
 * three. Each run is a fresh Node process (its peak RSS is the review's, not the bench's): one Pod,
 * then {@link HOSTILE_CONCURRENT_PODS} such Pods at once.
 */
async function measureHostilePods(folderWith: (files: Record<string, string>) => Promise<string>) {
  const registry = await startHostileRegistry({
    bundles: MAX_REFERRERS,
    bundleBytes: MAX_BUNDLE_BYTES,
    signatureLayers: MAX_SIGNATURE_LAYERS,
    signatureBytes: MAX_PAYLOAD_BYTES,
    attestationLayers: MAX_SIGNATURE_LAYERS,
    attestationBytes: MAX_ATTESTATION_BYTES,
  });
  try {
    const key = generateKeyPair('ecdsa-p256').publicKeyPem;
    const folder = await folderWith({ 'hostile.yaml': hostilePolicy(`${registry.host}/*`, key) });
    const run = async (pods: number) => {
      registry.resetCounts();
      const figures = await runChild([HOSTILE_CHILD, registry.host, folder, String(pods)]);
      return { ...figures, bodies: registry.bodies() };
    };
    const one = await run(1);
    const concurrent = await run(HOSTILE_CONCURRENT_PODS);
    const worstCase =
      MAX_REFERRERS * MAX_BUNDLE_BYTES + MAX_SIGNATURE_LAYERS * (MAX_PAYLOAD_BYTES + MAX_ATTESTATION_BYTES);
    return {
      images: HOSTILE_IMAGES,
      per_image: {
        bundles: `${MAX_REFERRERS} x ${MAX_BUNDLE_BYTES / 2 ** 20} MiB`,
        signature_layers: `${MAX_SIGNATURE_LAYERS} x ${MAX_PAYLOAD_BYTES / 2 ** 20} MiB`,
        attestation_layers: `${MAX_SIGNATURE_LAYERS} x ${MAX_ATTESTATION_BYTES / 2 ** 20} MiB`,
        offered_mib: round(worstCase / 2 ** 20, 0),
      },
      bounds: {
        review_budget_mib: REVIEW_BYTE_BUDGET / 2 ** 20,
        image_budget_mib: IMAGE_BYTE_BUDGET / 2 ** 20,
        bodies_in_flight_mib: BODY_BYTES_IN_FLIGHT / 2 ** 20,
        process_ceiling_mib: PROCESS_CEILING_MIB,
      },
      one_pod: {
        peak_rss_mib: one.peakRssMib,
        baseline_rss_mib: one.baselineRssMib,
        could_not_check: one.couldNotCheck,
        ms: one.ms,
        blob_requests: one.bodies.requests,
      },
      concurrent_pods: {
        pods: HOSTILE_CONCURRENT_PODS,
        peak_rss_mib: concurrent.peakRssMib,
        could_not_check: concurrent.couldNotCheck,
        ms: concurrent.ms,
        blob_requests: concurrent.bodies.requests,
      },
      registry: {
        most_bodies_in_flight: Math.max(one.bodies.most, concurrent.bodies.most),
        most_body_mib_in_flight: round(
          Math.max(one.bodies.mostBytes, concurrent.bodies.mostBytes) / 2 ** 20,
          1,
        ),
      },
    };
  } finally {
    await registry.stop();
  }
}

interface ChildFigures {
  readonly peakRssMib: number;
  readonly baselineRssMib: number;
  readonly couldNotCheck: number;
  readonly ms: number;
}

/** Runs this bench file again as a child with `args`; resolves to the JSON it prints. */
function runChild(args: string[]): Promise<ChildFigures> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--expose-gc', process.argv[1] ?? '', ...args], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) return reject(new Error(`hostile Pod child exited with ${code}: ${output}`));
      resolve(JSON.parse(output) as ChildFigures);
    });
  });
}

/** The child: one runtime, `pods` hostile Pods reviewed at once; prints peak RSS and outcomes. */
async function hostileChild(host: string, folder: string, pods: number): Promise<void> {
  const runtime = createRuntime(
    readConfig({ IMAGEGATE_POLICIES: folder, IMAGEGATE_INSECURE_REGISTRIES: host }),
    quiet,
  );
  // Policies and trust roots loaded, code paths warmed: the baseline before the hostile bytes.
  await answerAdmissionReview(podReview('warm', []), runtime);
  (globalThis as { gc?: () => void }).gc?.();
  const baseline = process.memoryUsage().rss;
  const started = performance.now();
  const answers = await Promise.all(
    Array.from({ length: pods }, (_, pod) =>
      answerAdmissionReview(
        podReview(
          `hostile${pod}`,
          Array.from({ length: HOSTILE_IMAGES }, (_, image) => `${host}/hostile/app${image}:latest`),
        ),
        runtime,
      ),
    ),
  );
  const ms = performance.now() - started;
  const message = answers.map((answer) => answer.response.status?.message ?? '').join('\n');
  await runtime.close();
  const figures: ChildFigures = {
    peakRssMib: round(process.resourceUsage().maxRSS / 1024, 1),
    baselineRssMib: round(baseline / 2 ** 20, 1),
    couldNotCheck: (message.match(/could not verify image /g) ?? []).length / pods,
    ms: round(ms, 0),
  };
  process.stdout.write(JSON.stringify(figures));
}

/** Signatures and attestations, so that every kind of attachment is read. */
function hostilePolicy(pattern: string, publicKeyPem: string): string {
  const key = publicKeyPem
    .trim()
    .split('\n')
    .map((line) => `${' '.repeat(22)}${line}`)
    .join('\n');
  return `apiVersion: kyverno.io/v1
kind: ClusterPolicy
metadata:
  name: hostile
spec:
  webhookConfiguration:
    failurePolicy: Fail
  rules:
    - name: hostile
      match:
        any:
          - resources:
              kinds:
                - Pod
      verifyImages:
        - imageReferences:
            - "${pattern}"
          failureAction: Enforce
          attestors:
            - entries:
                - keys:
                    publicKeys: |-
${key}
          attestations:
            - name: provenance
              type: https://slsa.dev/provenance/v1
              attestors:
                - entries:
                    - keys:
                        publicKeys: |-
${key.replace(/^/gm, '    ')}
`;
}

const entry =
  process.argv[2] === HOSTILE_CHILD
    ? hostileChild(process.argv[3] ?? '', process.argv[4] ?? '', Number(process.argv[5] ?? '1'))
    : main();

entry.then(
  // Exit once stdout has drained (a pipe is written asynchronously); keep-alive sockets would hold the process open.
  () => process.stdout.write('', () => process.exit(0)),
  (error: unknown) => {
    process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  },
);
