/**
 * Fuzz targets that need a relay's parts rather than one parser: the peer protocol as the admin app serves it
 * (`/mesh/v1`, open and keyed), and SDPs with many media sections installed on a stream. Asynchronous: each
 * input is one HTTP request to the admin app served by `Deno.serve` on loopback (the production path: an
 * in-process `app.request()` holds on to request bodies that Hono's body limit wraps, which the heap check would
 * take for a leak of the relay), or one description.
 * @module
 */
import fc from "fast-check";
import { createAdminApp } from "../../src/admin/app.ts";
import { StaticDiscovery } from "../../src/cluster/static_discovery.ts";
import type { Peer } from "../../src/cluster/discovery.ts";
import { Mesh } from "../../src/cluster/mesh.ts";
import { deriveKeyring } from "../../src/cluster/mesh_keys.ts";
import { MESH_AUTH_HEADER, signRequest } from "../../src/cluster/mesh_auth.ts";
import { silentLogger } from "../../src/log.ts";
import { StreamHub } from "../../src/relay/hub.ts";
import { configDefaults } from "../../src/config/schema.ts";
import { NO_RTSP_LIMITS, RtspService } from "../../src/relay/rtsp_service.ts";
import { Stream, TooManyTracks } from "../../src/relay/stream.ts";
import { PortPairAllocator } from "../../src/relay/port_allocator.ts";
import { udpPortPairs } from "../../src/relay/udp_pair.ts";
import { FakePortPairs } from "./fake_port_pairs.ts";
import { countMediaSections, parseSdp } from "../../src/rtsp/sdp.ts";
import { RtspProtocolError } from "../../src/rtsp/errors.ts";
import { BINARY_SPECIAL_BYTES, RTSP_SPECIAL_BYTES } from "./mutator.ts";
import { FuzzInvariantError, type FuzzResult, type FuzzTarget } from "./fuzz_targets.ts";

/** A target whose inputs are handled asynchronously (a request to an app), with parts to close at the end. */
export type AsyncFuzzTarget = Omit<FuzzTarget, "run"> & {
  run(input: Uint8Array, r: () => number): Promise<FuzzResult>;
  /** Releases the sockets and timers of the parts under test. */
  close(): Promise<void>;
};

/**
 * The targets of this file, in the order the bench runs them after the parsers' (tests/support/fuzz_targets.ts).
 * Build them on demand: the mesh targets bind a UDP port when first fed.
 */
export function createRelayFuzzTargets(): Array<FuzzTarget | AsyncFuzzTarget> {
  return [meshHttpTarget({ keyed: false }), meshHttpTarget({ keyed: true }), manyMediaTarget()];
}

const enc = new TextEncoder();
const latin1 = new TextDecoder("latin1");

function check(cond: boolean, message: () => string): asserts cond {
  if (!cond) throw new FuzzInvariantError(message());
}

// ---------------------------------------------------------------------------------------------------------------
// The peer protocol

/** Statuses the peer protocol may answer; a 500 (or anything else) is a bug. */
const MESH_STATUSES = new Set([200, 400, 401, 403, 404, 405, 409, 413, 415, 421, 429, 503]);
const PEER_HOST = "127.0.0.2";
const FUZZ_KEY = "fuzz-cluster-key-0123456789abcdef";
/** The fuzzed relay's incarnation, which signed requests name (and the caller's, in bodies). */
const RELAY_INCARNATION = "00000000000000a1";
const PEER_INCARNATION = "00000000000000b1";

/** Requests as text: `METHOD PATH`, header lines, a blank line, the body. */
function meshRequests(signed: boolean): string[] {
  const from = {
    node: "node-b",
    host: PEER_HOST,
    adminPort: 8080,
    meshPort: 7000,
    incarnation: PEER_INCARNATION,
  };
  const bodies: Array<[string, string, unknown]> = [
    ["POST", "/mesh/v1/join", { path: "cam", from, readers: 1, suspects: ["node-c"], deaf: false }],
    ["POST", "/mesh/v1/subscribe", { path: "cam", from, streamId: 12345, burst: true, epoch: "r/0/0" }],
    ["POST", "/mesh/v1/leave", { path: "cam", node: "node-b" }],
    ["POST", "/mesh/v1/unsubscribe", { path: "cam", node: "node-b" }],
    ["POST", "/mesh/v1/rejoin", { path: "cam", node: "node-b" }],
    ["GET", "/mesh/v1/roots/cam/sub", undefined],
  ];
  const ring = deriveKeyring([FUZZ_KEY]);
  return bodies.map(([method, path, body], i) => {
    const text = body === undefined ? "" : JSON.stringify(body);
    const headers = [body === undefined ? "" : "content-type: application/json"];
    if (signed) {
      const nonce = (i + 1).toString(16).padStart(24, "0");
      headers.push(
        `${MESH_AUTH_HEADER}: ${
          signRequest(
            ring,
            { method, path, body: enc.encode(text) },
            { node: "node-a", incarnation: RELAY_INCARNATION },
            Date.now(),
            nonce,
          )
        }`,
      );
    }
    return `${method} ${path}\n${headers.filter(Boolean).join("\n")}\n\n${text}`;
  });
}

/** Splits fuzzed bytes into a request: the first line, header lines (name: value), a blank line, the body. */
function toRequest(
  input: Uint8Array,
): { method: string; path: string; headers: Headers; body: Uint8Array } | null {
  const text = latin1.decode(input);
  const blank = text.indexOf("\n\n");
  const head = blank < 0 ? text : text.slice(0, blank);
  const [start = "", ...lines] = head.split("\n");
  const [method = "", path = ""] = start.split(" ");
  if (!/^[A-Z]{1,10}$/.test(method) || !path.startsWith("/")) return null;
  const headers = new Headers();
  for (const l of lines) {
    const colon = l.indexOf(":");
    if (colon <= 0) continue;
    try {
      headers.append(l.slice(0, colon).trim(), l.slice(colon + 1).trim());
    } catch {
      // a name or value fetch refuses: a client could not send it either
    }
  }
  const body = blank < 0 ? new Uint8Array(0) : input.subarray(blank + 2);
  return { method, path, headers, body };
}

/** Options of {@linkcode meshHttpTarget}. */
export interface MeshHttpTargetOptions {
  /** With a mesh key: most inputs are refused by the signature check, the corpus is signed. */
  keyed: boolean;
}

/**
 * The peer protocol as a relay with one static peer serves it (the admin app's body limit and JSON-only rule,
 * the open mesh's caller check or the keyed mesh's signatures, the routes' zod schemas and handlers), fed
 * requests as if from the peer's address: the answer is one of the statuses the protocol documents, with a JSON
 * error body; never a 500 and never a throw. Its state (nonces, suspects, caches) is bounded: the heap check of
 * the driver covers it.
 */
export function meshHttpTarget(options: MeshHttpTargetOptions): AsyncFuzzTarget {
  const self: Peer = {
    node: "node-a",
    zone: "",
    host: "127.0.0.1",
    rtspPort: 8554,
    adminPort: 8080,
    meshPort: 0,
    ready: true,
  };
  const peers: Peer[] = [{ ...self, node: "node-b", host: PEER_HOST }, {
    ...self,
    node: "node-c",
    host: "127.0.0.3",
  }];
  let parts:
    | {
      server: Deno.HttpServer<Deno.NetAddr>;
      client: Deno.HttpClient;
      mesh: Mesh;
      hub: StreamHub;
      rtsp: RtspService;
    }
    | null = null;
  const build = async () => {
    const discovery = new StaticDiscovery("static", self, peers);
    const mesh = new Mesh({
      self,
      discovery,
      fanout: 4,
      bindHost: "127.0.0.1",
      logger: silentLogger,
      keys: options.keyed ? deriveKeyring([FUZZ_KEY]) : null,
      incarnation: RELAY_INCARNATION,
      rootReadyMs: 10,
    });
    const hub = new StreamHub({
      logger: silentLogger,
      pulls: {},
      demo: false,
      publish: true,
      bindPair: udpPortPairs("127.0.0.1", new PortPairAllocator(46_000, 46_009)),
      lingerSeconds: 0,
      gopCacheBytes: 0,
      maxTracks: configDefaults().maxTracksPerStream,
      remote: mesh.resolver,
      createSource: () => {
        throw new Error("no camera in the fuzz relay");
      },
    });
    await mesh.start(hub);
    const rtsp = new RtspService({
      hub,
      logger: silentLogger,
      sessionTimeoutSeconds: 60,
      sourceWaitMs: 1000,
      limits: NO_RTSP_LIMITS,
    });
    const app = createAdminApp({ hub, rtsp, mesh, meshProtocol: true, ready: () => true, node: self.node });
    const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, app.fetch);
    // Requests leave from the peer's address: the open mesh's guard takes them for node-b's.
    const client = Deno.createHttpClient({ localAddress: PEER_HOST });
    return { server, client, mesh, hub, rtsp };
  };
  const close = async () => {
    const p = parts;
    parts = null;
    if (!p) return;
    p.client.close();
    await p.server.shutdown();
    p.rtsp.stop();
    await p.hub.close();
    await p.mesh.close();
  };
  return {
    name: options.keyed ? "mesh-http-keyed" : "mesh-http",
    what: `the peer protocol (${
      options.keyed ? "mesh key" : "open mesh"
    }): documented statuses with a JSON error`,
    corpus: meshRequests(options.keyed).map((t) => enc.encode(t)),
    mutateOptions: { specials: [...RTSP_SPECIAL_BYTES, 0x7b, 0x7d, 0x22, 0x3a, 0x2c] },
    arbitrary: fc.tuple(
      fc.constantFrom("GET", "POST", "PUT", "DELETE"),
      fc.constantFrom(
        "/mesh/v1/join",
        "/mesh/v1/subscribe",
        "/mesh/v1/roots/x",
        "/mesh/v1/leave",
        "/mesh/v1/zz",
      ),
      fc.constantFrom("content-type: application/json", "content-type: text/plain", ""),
      fc.json({ maxDepth: 3 }),
    ).map(([m, p, h, j]) => enc.encode(`${m} ${p}\n${h}\n\n${j}`)),
    maxHeldBytes: 0,
    async run(input) {
      parts ??= await build();
      const req = toRequest(input);
      if (!req) return { accepted: false, held: 0 };
      const init: RequestInit = { method: req.method, headers: req.headers };
      if (req.method !== "GET" && req.method !== "HEAD" && req.body.length > 0) init.body = req.body.slice();
      let res: Response;
      try {
        res = await fetch(`http://127.0.0.1:${parts.server.addr.port}${req.path}`, {
          ...init,
          client: parts.client,
        });
      } catch (e) {
        // What `fetch` refuses to send (a method such as CONNECT, a malformed URL) never reaches the relay.
        if (e instanceof TypeError) return { accepted: false, held: 0 };
        throw e;
      }
      const text = await res.text();
      check(MESH_STATUSES.has(res.status), () => `status ${res.status}: ${text.slice(0, 300)}`);
      if (res.status >= 400) {
        let error: unknown;
        try {
          error = (JSON.parse(text) as { error?: unknown }).error;
        } catch {
          error = undefined;
        }
        check(
          typeof error === "string" && error.length > 0,
          () => `${res.status} without a JSON error: ${text}`,
        );
      }
      return { accepted: res.status === 200, held: 0 };
    },
    close,
  };
}

// ---------------------------------------------------------------------------------------------------------------
// SDPs with many media sections

/**
 * SDPs of 1, 16, 17, 257 and 3,100 media sections; the long ones as short as media sections can be (a static
 * payload type), so 3,100 of them fit the 64 KB ANNOUNCE body limit as in the attack.
 */
export function manyMediaCorpus(): Uint8Array[] {
  return [1, configDefaults().maxTracksPerStream, configDefaults().maxTracksPerStream + 1, 257, 3100].map(
    (n) => {
      const medias = Array.from(
        { length: n },
        (_, i) =>
          n > 100
            ? "m=audio 0 RTP/AVP 0\r\n"
            : `m=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\na=control:s=${i}\r\n`,
      );
      return enc.encode(`v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=x\r\nt=0 0\r\n${medias.join("")}`);
    },
  );
}

/**
 * An SDP of an ANNOUNCE (or a camera's) installed on a stream: refused by the parser (400/415) or, beyond the
 * track cap, by the stream (`TooManyTracks`, nothing installed); otherwise tracks as many as media, and no UDP
 * port bound by a description.
 */
export function manyMediaTarget(): FuzzTarget {
  const pairs = new FakePortPairs(4);
  return {
    name: "sdp-many-media",
    what: "SDPs with many media on a stream: 400/415 or TooManyTracks beyond the cap, no port bound",
    corpus: manyMediaCorpus(),
    mutateOptions: { specials: [...RTSP_SPECIAL_BYTES, ...BINARY_SPECIAL_BYTES], maxGlued: 3 },
    maxHeldBytes: 0,
    run(input) {
      const text = new TextDecoder().decode(input);
      // As ANNOUNCE does: a description with more media sections than a stream may have is refused unparsed.
      if (countMediaSections(text) > configDefaults().maxTracksPerStream) return { accepted: false, held: 0 };
      let desc;
      try {
        desc = parseSdp(text);
      } catch (e) {
        if (e instanceof RtspProtocolError && (e.status === 400 || e.status === 415)) {
          return { accepted: false, held: 0 };
        }
        throw e;
      }
      const stream = new Stream({
        path: "fuzz",
        kind: "publish",
        logger: silentLogger,
        bindPair: pairs.bind,
        lingerSeconds: 0,
        gopCacheBytes: 0,
        maxTracks: configDefaults().maxTracksPerStream,
        onIdle: () => {},
      });
      try {
        stream.setDescription(desc);
      } catch (e) {
        if (!(e instanceof TooManyTracks)) throw e;
        throw new FuzzInvariantError(
          `${desc.medias.length} media passed the count, then the stream refused them`,
        );
      }
      check(stream.tracks.length === desc.medias.length, () => `${stream.tracks.length} tracks`);
      check(stream.boundPairs === 0 && pairs.free === 4, () => "a description bound ports");
      void stream.close();
      return { accepted: true, held: 0 };
    },
  };
}
