/**
 * Attacks on WebRTC viewers (WHEP, issue 18), against a relay process: bad offers, unknown paths, offers sharing
 * no codec, missing rights and too many sessions get a clear 4xx or 503 with a reason; what an outsider sends to
 * the shared `--webrtc-port` (garbage, unsigned or forged STUN, DTLS from an address that never checked, a flood)
 * gets no answer at all (no reflection, no amplification) and disturbs nothing: an RTSP reader of the demo path
 * keeps every packet, and the relay keeps answering offers.
 * @module
 */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { Buffer } from "node:buffer";
import { classes, Message, methods } from "werift";
import { delay } from "./support/processes.ts";
import { type RelayProcess, startRelayProcess } from "./support/relay.ts";
import { startRtspReader } from "./support/rtsp_peers.ts";

/** A receive-only offer as Chromium writes it (video and audio, BUNDLE). */
const OFFER = Deno.readTextFileSync(new URL("../src/webrtc/testdata/chromium_offer_av.sdp", import.meta.url));

interface Posted {
  status: number;
  error: string;
  answer: string;
  location: string | null;
}

async function post(
  relay: RelayProcess,
  path: string,
  body: string,
  headers: Record<string, string> = { "Content-Type": "application/sdp" },
): Promise<Posted> {
  const res = await fetch(`http://${relay.host}:${relay.adminPort}/whep/${path}`, {
    method: "POST",
    headers,
    body,
  });
  const text = await res.text();
  let error = "";
  if (res.status !== 201) {
    try {
      error = (JSON.parse(text) as { error?: string }).error ?? "";
    } catch {
      error = text.slice(0, 120);
    }
  }
  return {
    status: res.status,
    error,
    answer: res.status === 201 ? text : "",
    location: res.headers.get("location"),
  };
}

/** Counts an RTSP reader's packets and gaps (a sequence number skipped). */
async function countingReader(relay: RelayProcess) {
  const counts = { packets: 0, gaps: 0, last: -1 };
  const reader = await startRtspReader(relay.url("demo"), {
    transport: "tcp",
    onRtp: (p) => {
      const seq = (p[2]! << 8) | p[3]!;
      if (counts.last >= 0 && seq !== ((counts.last + 1) & 0xffff)) counts.gaps++;
      counts.last = seq;
      counts.packets++;
    },
  });
  return { counts, reader };
}

Deno.test("attack: bad offers get a 4xx with the reason, nothing else is disturbed", async () => {
  await using relay = await startRelayProcess(["--max-viewers", "4"]);
  const { counts, reader } = await countingReader(relay);
  await using _reader = reader;
  const cases: Array<[string, string, Record<string, string> | undefined, number, RegExp]> = [
    ["demo", OFFER, { "Content-Type": "application/json" }, 415, /application\/sdp/],
    ["demo", "", undefined, 400, /v=0/],
    ["demo", "v=0\r\no=- 0 0 IN IP4 0.0.0.0\r\ns=-\r\n", undefined, 400, /no media section/],
    ["demo", OFFER.replace(/a=fingerprint:.*\r\n/g, ""), undefined, 400, /fingerprint/],
    ["demo", OFFER.replace(/a=ice-pwd:.*\r\n/g, ""), undefined, 400, /ice-pwd/],
    ["demo", OFFER.replace(/a=setup:actpass/g, "a=setup:passive"), undefined, 400, /setup:passive/],
    ["demo", OFFER.replace(/UDP\/TLS\/RTP\/SAVPF/g, "RTP/AVP"), undefined, 400, /UDP\/TLS\/RTP\/SAVPF/],
    ["demo", "v=0\r\n" + "a=x:" + "y".repeat(70_000) + "\r\n", undefined, 413, /larger than/],
    // Only VP8 offered: the demo path is H.264.
    ["demo", OFFER.replace(/H264\/90000/g, "XXXX/90000"), undefined, 422, /No codec in common.*H264\/90000/],
    ["no-such-path", OFFER, undefined, 404, /No stream/],
    ["%ZZ", OFFER, undefined, 400, /percent-encoding/],
    ["a%20b%3Cscript%3E", OFFER, undefined, 400, /path names use/],
  ];
  for (const [path, body, headers, status, reason] of cases) {
    const got = await post(relay, path, body, headers);
    assertEquals(got.status, status, `${path} ${body.slice(0, 40)}: ${got.status} ${got.error}`);
    assert(reason.test(got.error), `${path}: "${got.error}"`);
  }
  // Session resources that do not exist.
  const base = `http://${relay.host}:${relay.adminPort}/whep/v1/session/`;
  assertEquals(
    await fetch(base + "whep-nope", { method: "DELETE" }).then((r) => (r.body?.cancel(), r.status)),
    404,
  );
  const patch = await fetch(base + "whep-nope", {
    method: "PATCH",
    headers: { "Content-Type": "application/trickle-ice-sdpfrag" },
    body: "a=candidate:1 1 udp 1 127.0.0.1 9 typ host",
  });
  await patch.body?.cancel();
  assertEquals(patch.status, 404);
  // A good offer is still answered, with the session's resource; its PATCH and DELETE work.
  const good = await post(relay, "demo", OFFER);
  assertEquals(good.status, 201, good.error);
  assert(good.location?.startsWith("/whep/v1/session/whep-"), String(good.location));
  assert(/a=ice-lite/.test(good.answer) && /a=setup:passive/.test(good.answer));
  const url = `http://${relay.host}:${relay.adminPort}${good.location}`;
  const wrongType = await fetch(url, {
    method: "PATCH",
    headers: { "Content-Type": "text/plain" },
    body: "x",
  });
  await wrongType.body?.cancel();
  assertEquals(wrongType.status, 415);
  const trickle = await fetch(url, {
    method: "PATCH",
    headers: { "Content-Type": "application/trickle-ice-sdpfrag" },
    body: "a=candidate:1 1 udp 1 127.0.0.1 9 typ host",
  });
  await trickle.body?.cancel();
  assertEquals(trickle.status, 204);
  const deleted = await fetch(url, { method: "DELETE" });
  await deleted.body?.cancel();
  assertEquals(deleted.status, 200);
  await delay(1000);
  assert(counts.packets > 20, `the RTSP reader got ${counts.packets} packets`);
  assertEquals(counts.gaps, 0, "the RTSP reader's stream has no gap");
  assert(relay.process.running, "the relay runs");
});

Deno.test("attack: WHEP needs a viewer token with RTSP users, obeys --rtsp-allow, and --max-viewers counts it", async () => {
  {
    await using relay = await startRelayProcess(["--user", "viewer:viewer-secret-1:read:demo"]);
    const none = await post(relay, "demo", OFFER);
    assertEquals(none.status, 401);
    assert(/viewer token/.test(none.error), none.error);
    const made = await post(relay, "demo", OFFER, {
      "Content-Type": "application/sdp",
      Authorization: "Bearer 1.2.3",
    });
    assertEquals(made.status, 401);
    const token = async (path: string) => {
      const res = await fetch(`http://${relay.host}:${relay.adminPort}/watch/v1/token`, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ path, user: "viewer", password: "viewer-secret-1" }),
      });
      return String(((await res.json()) as { token?: string }).token);
    };
    const auth = (t: string) => ({ "Content-Type": "application/sdp", Authorization: `Bearer ${t}` });
    const t = await token("demo");
    assertEquals((await post(relay, "demo", OFFER, auth(t))).status, 201);
    const spent = await post(relay, "demo", OFFER, auth(t));
    assertEquals(spent.status, 401);
    assert(/used already/.test(spent.error), spent.error);
    // A token for a path the user cannot read is not issued; one for another path does not open this one.
    const forCam = await token("cam");
    assertEquals(forCam, "undefined");
  }
  {
    await using relay = await startRelayProcess(["--rtsp-allow", "10.0.0.0/8"]);
    const got = await post(relay, "demo", OFFER);
    assertEquals(got.status, 403);
  }
  {
    // Offers never completed: one address holds at most 8 places while they connect, not all of --max-viewers.
    await using relay = await startRelayProcess(["--max-viewers", "64"]);
    const answers = await Promise.all(Array.from({ length: 12 }, () => post(relay, "demo", OFFER)));
    const statuses = answers.map((x) => x.status).sort();
    assertEquals(
      statuses,
      [...Array(8).fill(201), ...Array(4).fill(429)],
      JSON.stringify(answers.map((x) => x.error)),
    );
    assert(answers.some((x) => /still connecting/.test(x.error)));
    // Ending one frees its place for this address.
    const one = answers.find((x) => x.status === 201)!;
    const ended = await fetch(`http://${relay.host}:${relay.adminPort}${one.location}`, { method: "DELETE" });
    await ended.body?.cancel();
    assertEquals((await post(relay, "demo", OFFER)).status, 201);
  }
  {
    // WHEP and the MSE player share the bound.
    await using relay = await startRelayProcess(["--max-viewers", "2"]);
    const a = await post(relay, "demo", OFFER);
    const ws = new WebSocket(`ws://${relay.host}:${relay.adminPort}/watch/v1/fmp4/demo`);
    await new Promise((resolve) => (ws.onopen = resolve));
    assertEquals(a.status, 201);
    const full = await post(relay, "demo", OFFER);
    assertEquals(full.status, 503);
    assert(/watching already/.test(full.error), full.error);
    const gone = await fetch(`http://${relay.host}:${relay.adminPort}${a.location}`, { method: "DELETE" });
    await gone.body?.cancel();
    assertEquals((await post(relay, "demo", OFFER)).status, 201, "a DELETE frees the place");
    ws.close();
  }
});

/** The port and ufrag a WHEP answer gives. */
function transportOf(answer: string): { port: number; ufrag: string } {
  const candidate = /a=candidate:\S+ 1 udp \d+ (\S+) (\d+) typ host/.exec(answer);
  const ufrag = /a=ice-ufrag:(\S+)/.exec(answer);
  assert(candidate && ufrag, answer);
  return { port: Number(candidate[2]), ufrag: ufrag[1]! };
}

function binding(username: string, key: string): Uint8Array {
  const m = new Message(methods.BINDING, classes.REQUEST);
  m.setAttribute("USERNAME", username);
  m.setAttribute("USE-CANDIDATE", null);
  m.addMessageIntegrity(Buffer.from(key));
  m.addFingerprint();
  return new Uint8Array(m.bytes);
}

Deno.test("attack: what an outsider sends to the WebRTC port gets no answer and disturbs nothing", async () => {
  await using relay = await startRelayProcess();
  const { counts, reader } = await countingReader(relay);
  await using _reader = reader;
  const answered = await post(relay, "demo", OFFER);
  assertEquals(answered.status, 201, answered.error);
  const { port, ufrag } = transportOf(answered.answer);
  const browserUfrag = /a=ice-ufrag:(\S+)/.exec(OFFER)![1]!;
  const to: Deno.NetAddr = { transport: "udp", hostname: relay.host, port };
  const attacker = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  const replies: Uint8Array[] = [];
  const listening = (async () => {
    try {
      for (;;) replies.push((await attacker.receive())[0]);
    } catch {
      // closed
    }
  })();
  try {
    const sends: Uint8Array[] = [
      new Uint8Array(0),
      new Uint8Array([1]),
      crypto.getRandomValues(new Uint8Array(1200)),
      // Unsigned, wrong password, right ufrag with a made-up password, an unknown ufrag.
      (() => {
        const m = new Message(methods.BINDING, classes.REQUEST);
        m.setAttribute("USERNAME", `${ufrag}:${browserUfrag}`);
        return new Uint8Array(m.bytes);
      })(),
      binding(`${ufrag}:${browserUfrag}`, "not-the-password-not-the-password"),
      binding(`nobody:${browserUfrag}`, "not-the-password-not-the-password"),
      // DTLS ClientHello and SRTP-looking bytes from an address that never checked.
      new Uint8Array([22, 254, 253, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x40, 1, 0, 0, 0x34]),
      new Uint8Array([0x80, 200, 0, 6, ...new Uint8Array(24)]),
      new Uint8Array([0x80, 96, 0, 1, ...new Uint8Array(100)]),
    ];
    for (const bytes of sends) await attacker.send(bytes, to);
    // A flood: 20,000 datagrams of each kind above, bounded in count.
    for (let i = 0; i < 20_000; i++) {
      attacker.send(sends[2 + (i % (sends.length - 2))]!, to).catch(() => {});
      if (i % 500 === 0) await delay(1);
    }
    await delay(1500);
    assertEquals(replies.length, 0, "the relay answered an outsider");
    // The relay still works: a new offer is answered, the demo reader lost nothing.
    assertEquals((await post(relay, "demo", OFFER)).status, 201);
    assert(counts.packets > 20, `the RTSP reader got ${counts.packets} packets`);
    assertEquals(counts.gaps, 0, "the RTSP reader's stream has no gap");
    assert(relay.process.running, "the relay runs");
  } finally {
    attacker.close();
    await listening;
  }
});
