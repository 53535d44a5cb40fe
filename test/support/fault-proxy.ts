/**
 * A fault-injecting reverse proxy on 127.0.0.1 for tests: put it between imagegate and a real registry
 * and make chosen requests slow, failing, cut short, corrupted, huge or silent. Requests no rule selects
 * are forwarded unchanged (method, path, headers including Host, body).
 */
import http from 'node:http';
import https from 'node:https';
import type { Socket } from 'node:net';
import { listenOnLoopback } from './ports';

export type Fault =
  /** Wait, then forward. */
  | { readonly kind: 'latency'; readonly ms: number }
  /** Answer this status (e.g. 500, 503, 429 with `retry-after`) without asking the registry. */
  | {
      readonly kind: 'status';
      readonly status: number;
      readonly headers?: Readonly<Record<string, string>>;
      readonly body?: string;
    }
  /** Reset the connection (TCP RST) as soon as the request arrives. */
  | { readonly kind: 'reset' }
  /** Forward, send the registry's headers (Content-Length included) and only `bytes` of the body, then close. */
  | { readonly kind: 'truncate'; readonly bytes?: number }
  /**
   * Forward, then serve `body(upstream)` instead of the registry's body with the registry's headers
   * (Docker-Content-Digest included, Content-Length corrected), less `dropHeaders`.
   */
  | {
      readonly kind: 'rewrite';
      readonly body: (upstream: Buffer) => Buffer | string;
      readonly dropHeaders?: readonly string[];
    }
  /** Forward, then serve the same JSON with a space appended: valid, but not the bytes its digest names. */
  | { readonly kind: 'digest-mismatch' }
  /** Answer 200 with `bytes` bytes of body, announced in Content-Length unless `chunked`. */
  | { readonly kind: 'huge'; readonly bytes: number; readonly chunked?: boolean }
  /** Accept the request and never answer (until the proxy stops). */
  | { readonly kind: 'hang' }
  /** Answer a redirect to `location`. */
  | { readonly kind: 'redirect'; readonly location: string; readonly status?: number };

export interface FaultRule {
  /** Selects requests by path (query string dropped): a RegExp, or a string the path must contain. */
  readonly path: RegExp | string;
  /** Only this method (default: any). */
  readonly method?: string;
  readonly fault: Fault;
  /** Apply to this many matching requests, then forward them unchanged (default: every one). */
  readonly times?: number;
}

export interface FaultProxy {
  /** "127.0.0.1:PORT" */
  readonly host: string;
  readonly port: number;
  /** http(s)://127.0.0.1:PORT */
  readonly url: string;
  /** Adds a rule; the first matching rule with applications left wins. */
  add(rule: FaultRule): void;
  /** Removes every rule and forgets the requests seen. */
  reset(): void;
  /** "METHOD /path" of every request received, in order. */
  requests(): string[];
  /** Requests received whose path matches `path` (all when omitted). */
  count(path?: RegExp | string): number;
  stop(): Promise<void>;
}

const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'te',
  'trailer',
  'upgrade',
]);

function endToEnd(raw: readonly string[], drop: readonly string[] = []): string[] {
  const out: string[] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i]!.toLowerCase();
    if (!HOP_BY_HOP.has(name) && !drop.includes(name)) out.push(raw[i]!, raw[i + 1]!);
  }
  return out;
}

function matches(pattern: RegExp | string, path: string): boolean {
  return typeof pattern === 'string' ? path.includes(pattern) : pattern.test(path);
}

interface Upstream {
  status: number;
  message: string | undefined;
  rawHeaders: string[];
  body: Buffer;
}

/**
 * Starts the proxy in front of `targetHost` ("127.0.0.1:PORT", plain HTTP). With `tls`, the proxy itself
 * speaks HTTPS with that key and certificate (a TLS registry for tests).
 */
export async function startFaultProxy(
  targetHost: string,
  options: { tls?: { key: string; cert: string } } = {},
): Promise<FaultProxy> {
  const target = new URL(`http://${targetHost}`);
  if (target.hostname !== '127.0.0.1' && target.hostname !== 'localhost') {
    throw new Error(`fault proxy: target ${targetHost} is not on loopback`);
  }
  const agent = new http.Agent({ keepAlive: true });
  let rules: { rule: FaultRule; left: number }[] = [];
  let seen: string[] = [];
  const sockets = new Set<Socket>();
  const timers = new Set<NodeJS.Timeout>();

  const fetchUpstream = (req: http.IncomingMessage, body: Buffer): Promise<Upstream> =>
    new Promise((resolve, reject) => {
      const upstream = http.request(
        {
          host: target.hostname,
          port: target.port,
          method: req.method,
          path: req.url,
          headers: endToEnd(req.rawHeaders),
          agent,
          setHost: false,
        },
        (response) => {
          const chunks: Buffer[] = [];
          response.on('data', (chunk: Buffer) => chunks.push(chunk));
          response.on('end', () =>
            resolve({
              status: response.statusCode ?? 502,
              message: response.statusMessage,
              rawHeaders: response.rawHeaders,
              body: Buffer.concat(chunks),
            }),
          );
          response.on('error', reject);
        },
      );
      upstream.on('error', reject);
      upstream.end(body);
    });

  const forward = async (req: http.IncomingMessage, res: http.ServerResponse, body: Buffer) => {
    const upstream = await fetchUpstream(req, body);
    res.writeHead(upstream.status, upstream.message, endToEnd(upstream.rawHeaders));
    res.end(upstream.body);
  };

  const later = (ms: number) =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        timers.delete(timer);
        resolve();
      }, ms);
      timers.add(timer);
    });

  const apply = async (fault: Fault, req: http.IncomingMessage, res: http.ServerResponse, body: Buffer) => {
    switch (fault.kind) {
      case 'latency':
        await later(fault.ms);
        return forward(req, res, body);
      case 'status':
        res.writeHead(fault.status, { 'content-type': 'text/plain', ...fault.headers });
        res.end(fault.body ?? `fault proxy: ${fault.status}`);
        return;
      case 'reset':
        req.socket.resetAndDestroy();
        return;
      case 'truncate': {
        const upstream = await fetchUpstream(req, body);
        const keep = fault.bytes ?? Math.floor(upstream.body.length / 2);
        const headers = endToEnd(upstream.rawHeaders, ['content-length']);
        res.writeHead(upstream.status, upstream.message, [
          ...headers,
          'Content-Length',
          String(upstream.body.length),
        ]);
        res.write(upstream.body.subarray(0, keep), () => res.socket?.destroy());
        return;
      }
      case 'rewrite':
      case 'digest-mismatch': {
        const upstream = await fetchUpstream(req, body);
        const replaced =
          fault.kind === 'rewrite'
            ? Buffer.from(fault.body(upstream.body))
            : Buffer.concat([upstream.body, Buffer.from(' ')]);
        const drop = ['content-length', ...(fault.kind === 'rewrite' ? (fault.dropHeaders ?? []) : [])];
        res.writeHead(upstream.status, upstream.message, [
          ...endToEnd(upstream.rawHeaders, drop),
          'Content-Length',
          String(replaced.length),
        ]);
        res.end(replaced);
        return;
      }
      case 'huge': {
        res.writeHead(200, {
          'content-type': 'application/vnd.oci.image.manifest.v1+json',
          ...(fault.chunked ? {} : { 'content-length': String(fault.bytes) }),
        });
        const chunk = Buffer.alloc(64 * 1024, 0x20);
        let left = fault.bytes;
        const pump = () => {
          while (left > 0 && !res.destroyed) {
            const part = chunk.subarray(0, Math.min(chunk.length, left));
            left -= part.length;
            if (!res.write(part)) return void res.once('drain', pump);
          }
          if (!res.destroyed) res.end();
        };
        res.on('error', () => undefined);
        pump();
        return;
      }
      case 'hang':
        return;
      case 'redirect':
        res.writeHead(fault.status ?? 307, { location: fault.location });
        res.end();
        return;
    }
  };

  const handler = (req: http.IncomingMessage, res: http.ServerResponse) => {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    seen.push(`${req.method ?? 'GET'} ${path}`);
    const entry = rules.find(
      ({ rule, left }) =>
        left > 0 && matches(rule.path, path) && (rule.method === undefined || rule.method === req.method),
    );
    if (entry) entry.left--;
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const work = entry ? apply(entry.rule.fault, req, res, body) : forward(req, res, body);
      work.catch((error: unknown) => {
        if (res.headersSent) {
          res.destroy();
        } else {
          res.writeHead(502, { 'content-type': 'text/plain' });
          res.end(`fault proxy: ${error instanceof Error ? error.message : String(error)}`);
        }
      });
    });
  };

  const server = options.tls
    ? https.createServer({ key: options.tls.key, cert: options.tls.cert }, handler)
    : http.createServer(handler);
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  // A TLS handshake refused by the client is the test's business, not an unhandled error.
  server.on('tlsClientError', () => undefined);
  const host = await listenOnLoopback(server);
  let stopped: Promise<void> | undefined;

  return {
    host,
    port: Number(host.split(':')[1]),
    url: `${options.tls ? 'https' : 'http'}://${host}`,
    add(rule) {
      rules.push({ rule, left: rule.times ?? Infinity });
    },
    reset() {
      rules = [];
      seen = [];
    },
    requests: () => [...seen],
    count: (path) =>
      path === undefined
        ? seen.length
        : seen.filter((line) => matches(path, line.slice(line.indexOf(' ') + 1))).length,
    stop() {
      stopped ??= new Promise<void>((resolve) => {
        for (const timer of timers) clearTimeout(timer);
        server.close(() => resolve());
        for (const socket of sockets) socket.destroy();
        agent.destroy();
      });
      return stopped;
    },
  };
}
