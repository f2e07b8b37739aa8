/**
 * The page that plays a stream in a browser (src/admin/viewer.ts): over WebRTC (WHEP, `POST /whep/{path}`) where
 * the browser has it and the stream has a codec it plays, else with Media Source Extensions, a `<video>` fed from
 * the `/watch/v1/fmp4/{path}` WebSocket (a text message with the MIME type, the initialization segment, then a
 * fragment per picture), kept near the live edge. `?via=mse` or `?via=webrtc` chooses. Beside the picture: the
 * frames decoded and, over WebRTC, what the browser's own statistics say it received (packets lost, jitter,
 * bitrate). No framework, no external resource: the script is inline and allowed by its hash in the page's
 * Content-Security-Policy.
 * @module
 */
import { sha256 } from "./dashboard_page.ts";

const SCRIPT = `(() => {
  const via = new URLSearchParams(location.search).get("via");
  const webrtc = via !== "mse" && typeof RTCPeerConnection === "function";
  const wall = document.querySelector('meta[name="msm-viewer-wall"]') !== null;
  const single = wall ? null : location.pathname.slice("/watch/".length);
  const status = document.getElementById("status");
  const say = (text) => { status.textContent = text; };
  const login = document.getElementById("login");
  let credentials = null;
  if (document.querySelector('meta[name="msm-viewer-login"]')) {
    // This relay has users: trade the password for a one-time token per stream (never in a URL), then play.
    login.hidden = false;
    say("this relay needs a user with the right to read " + (single ? decodeURIComponent(single) : "its streams"));
    login.addEventListener("submit", (e) => {
      e.preventDefault();
      credentials = { user: document.getElementById("user").value, password: document.getElementById("password").value };
      login.hidden = true;
      begin();
    });
  } else {
    begin();
  }

  /** A one-time token for path, or null when the relay needs none; throws with the relay's reason. */
  async function tokenFor(path) {
    if (!credentials) return null;
    const body = JSON.stringify({ path: decodeURIComponent(path), ...credentials });
    const res = await fetch("/watch/v1/token", { method: "POST", headers: { "Content-Type": "application/json" }, body });
    const answer = await res.json().catch(() => ({}));
    if (!res.ok) throw new Error(answer.error || String(res.status));
    return answer.token;
  }

  async function begin() {
    if (!wall) {
      return play(single, { video: document.getElementById("video"), status, frames: document.getElementById("frames") });
    }
    // The wall: every stream the relay lists, a tile each.
    const res = await fetch("/api/v1/streams");
    if (!res.ok) return say("the stream list is not readable here (" + res.status + ")");
    const { streams } = await res.json();
    const grid = document.getElementById("wall");
    say(streams.length + " stream" + (streams.length === 1 ? "" : "s"));
    for (const s of streams) {
      const path = s.path.split("/").map(encodeURIComponent).join("/");
      const tile = document.createElement("figure");
      tile.dataset.testid = "tile-" + s.path;
      const video = document.createElement("video");
      video.muted = true;
      video.autoplay = true;
      video.playsInline = true;
      const caption = document.createElement("figcaption");
      const link = document.createElement("a");
      link.href = "/watch/" + path;
      link.textContent = s.path;
      const tileStatus = document.createElement("span");
      const frames = document.createElement("span");
      frames.dataset.testid = "tile-frames-" + s.path;
      caption.append(link, " ", tileStatus, " ", frames);
      tile.append(video, caption);
      grid.append(tile);
      play(path, { video, status: tileStatus, frames });
    }
  }

  function play(path, tile, attempt = 0) {
    if (tile.via === undefined) tile.via = webrtc ? "webrtc" : "mse";
    ticker(tile);
    return tile.via === "webrtc" ? playWebrtc(path, tile, attempt) : playMse(path, tile, attempt);
  }

  /** Plays again after a wait that grows with each failed try. */
  function again(path, tile, attempt, why) {
    const wait = Math.min(5000, 500 * 2 ** attempt);
    tile.status.textContent = why + "; again in " + (wait / 1000).toFixed(1) + " s";
    setTimeout(() => play(path, tile, attempt + 1), wait);
  }

  async function playWebrtc(path, tile, attempt) {
    const { video } = tile;
    const tell = (text) => { tile.status.textContent = text; };
    if (!tile.stats) tile.stats = { bytes: 0, openedAt: performance.now(), firstFrameMs: null };
    let token = null;
    try {
      token = await tokenFor(path);
    } catch (err) {
      if (!wall) login.hidden = false;
      return tell("refused: " + err.message);
    }
    const pc = new RTCPeerConnection();
    pc.addTransceiver("video", { direction: "recvonly" });
    pc.addTransceiver("audio", { direction: "recvonly" });
    pc.ontrack = (e) => {
      if (!video.srcObject) video.srcObject = new MediaStream();
      video.srcObject.addTrack(e.track);
      video.play().catch(() => {});
    };
    let resource = null;
    let ended = false;
    const end = (why) => {
      if (ended) return;
      ended = true;
      tile.pc = null;
      pc.close();
      if (resource) fetch(resource, { method: "DELETE", keepalive: true }).catch(() => {});
      video.srcObject = null;
      if (why) again(path, tile, attempt, why);
    };
    try {
      await pc.setLocalDescription(await pc.createOffer());
      const headers = { "Content-Type": "application/sdp" };
      if (token) headers.Authorization = "Bearer " + token;
      const res = await fetch("/whep/" + path, { method: "POST", headers, body: pc.localDescription.sdp });
      const text = await res.text();
      if (res.status === 415 || res.status === 422) {
        // No codec in common (H.265, AAC alone, ...): the MSE player carries what WebRTC here cannot.
        end(null);
        tile.via = "mse";
        tell("WebRTC: " + (JSON.parse(text).error || res.status) + "; playing with MSE");
        return playMse(path, tile, attempt);
      }
      if (res.status !== 201) return end("WebRTC refused: " + ((() => { try { return JSON.parse(text).error; } catch { return res.status; } })()));
      resource = new URL(res.headers.get("Location"), location.href).href;
      // The stream has AAC (which WebRTC cannot carry, MSE can): unless asked for WebRTC, picture and sound by MSE.
      if (via !== "webrtc" && /MPEG4-GENERIC/i.test(res.headers.get("X-Unsent-Tracks") || "")) {
        end(null);
        tile.via = "mse";
        tell("WebRTC cannot carry this stream's AAC audio; playing with MSE");
        return playMse(path, tile, attempt);
      }
      await pc.setRemoteDescription({ type: "answer", sdp: text });
    } catch (err) {
      return end("WebRTC failed: " + err.message);
    }
    tile.pc = pc;
    tell(decodeURIComponent(path) + ": WebRTC, connecting");
    // UDP blocked on the way (a proxy, a firewall): the MSE player goes through whatever carries HTTP.
    setTimeout(() => {
      if (ended || pc.connectionState === "connected") return;
      end(null);
      tile.via = "mse";
      tell("WebRTC did not connect in 5 s; playing with MSE");
      playMse(path, tile, 0);
    }, 5000);
    addEventListener("pagehide", () => end(null));
    pc.onconnectionstatechange = () => {
      if (pc.connectionState === "connected") {
        attempt = 0;
        tell(decodeURIComponent(path) + ": WebRTC");
      }
      if (pc.connectionState === "failed" || pc.connectionState === "closed") end("WebRTC " + pc.connectionState);
    };
  }

  /** The frames decoded, and over WebRTC the browser's receive statistics, once a second and per frame. */
  function ticker(tile) {
    if (tile.ticking) return;
    tile.ticking = true;
    const { video, frames } = tile;
    let rtc = "";
    let lastBytes = 0;
    let lastAt = performance.now();
    setInterval(async () => {
      const pc = tile.pc;
      if (!pc) return void (rtc = "");
      const report = await pc.getStats().catch(() => null);
      report?.forEach((s) => {
        if (s.type === "inbound-rtp" && s.kind === "audio") {
          frames.dataset.audioPackets = String(s.packetsReceived);
          frames.dataset.audioSamples = String(s.totalSamplesReceived ?? 0);
          return;
        }
        if (s.type !== "inbound-rtp" || s.kind !== "video") return;
        const now = performance.now();
        const kbps = Math.max(0, (s.bytesReceived - lastBytes) * 8 / (now - lastAt));
        lastBytes = s.bytesReceived;
        lastAt = now;
        tile.stats.bytes = s.bytesReceived;
        frames.dataset.lost = String(s.packetsLost);
        frames.dataset.jitterMs = String(Math.round(s.jitter * 1000));
        frames.dataset.nacks = String(s.nackCount ?? 0);
        rtc = "; WebRTC: " + s.packetsReceived + " packets, " + s.packetsLost + " lost, jitter " +
          Math.round(s.jitter * 1000) + " ms, " + Math.round(kbps) + " kbit/s, " + (s.nackCount ?? 0) + " NACKs";
      });
    }, 1000);
    const tick = () => {
      const stats = tile.stats;
      const q = video.getVideoPlaybackQuality();
      if (stats && q.totalVideoFrames > 0 && stats.firstFrameMs === null) stats.firstFrameMs = performance.now() - stats.openedAt;
      frames.dataset.decoded = String(q.totalVideoFrames);
      frames.dataset.via = tile.via;
      if (tile.via === "mse" && video.webkitAudioDecodedByteCount !== undefined) {
        frames.dataset.audioBytes = String(video.webkitAudioDecodedByteCount);
      }
      if (stats && stats.firstFrameMs !== null) frames.dataset.firstFrameMs = String(Math.round(stats.firstFrameMs));
      frames.textContent = q.totalVideoFrames + " frames decoded, " + q.droppedVideoFrames + " dropped, " +
        Math.round((stats ? stats.bytes : 0) / 1024) + " KiB received" + rtc;
      requestAnimationFrame(tick);
    };
    requestAnimationFrame(tick);
  }

  async function playMse(path, tile, attempt = 0) {
    const { video } = tile;
    const tell = (text) => { tile.status.textContent = text; };
    let token = null;
    try {
      token = await tokenFor(path);
    } catch (err) {
      if (!wall) login.hidden = false; // another try
      return tell("refused: " + err.message);
    }
    const ws = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/watch/v1/fmp4/" +
      path + (token ? "?token=" + encodeURIComponent(token) : ""));
    ws.binaryType = "arraybuffer";
    const media = new MediaSource();
    video.src = URL.createObjectURL(media);
    // One SourceBuffer per track: the video's, and the audio's when the stream has AAC. The first binary messages
    // are their initialization segments in that order; every later one is a fragment, routed by its tfhd track ID.
    const tracks = [];
    let inits = 0;
    const stats = tile.stats && tile.stats.fragments !== undefined
      ? tile.stats
      : { fragments: 0, bytes: 0, openedAt: performance.now(), firstFrameMs: null };
    tile.stats = stats;
    const pump = (t) => {
      if (!t.buffer || t.buffer.updating || t.queue.length === 0) return;
      try { t.buffer.appendBuffer(t.queue.shift()); } catch (err) { tell("append failed: " + err.message); }
    };
    const live = (t) => {
      const b = t.buffer.buffered;
      if (b.length === 0) return;
      const end = b.end(b.length - 1);
      // More than a second and a half behind (a GOP burst, a stall): back to the live edge.
      if (t.video && end - video.currentTime > 1.5) video.currentTime = Math.max(b.start(b.length - 1), end - 0.3);
      if (!t.buffer.updating && video.currentTime - b.start(0) > 30) t.buffer.remove(b.start(0), video.currentTime - 10);
    };
    const open = () => {
      if (tracks.length === 0 || tracks[0].buffer || media.readyState !== "open") return;
      for (const t of tracks) {
        if (!MediaSource.isTypeSupported(t.mime)) return tell("this browser cannot play " + t.mime);
      }
      for (const t of tracks) {
        t.buffer = media.addSourceBuffer(t.mime);
        t.buffer.addEventListener("updateend", () => { live(t); pump(t); });
        pump(t);
      }
    };
    media.addEventListener("sourceopen", open);
    ws.onmessage = (e) => {
      if (typeof e.data === "string") {
        const m = JSON.parse(e.data);
        if (m.type === "init") {
          tracks.push({ mime: m.mime, video: true, queue: [], buffer: null });
          if (m.audio) tracks.push({ mime: m.audio.mime, video: false, queue: [], buffer: null });
          tell(decodeURIComponent(path) + ": " + m.width + "x" + m.height + ", " + tracks.map((t) => t.mime).join(" + "));
          open();
        }
        return;
      }
      stats.fragments++;
      stats.bytes += e.data.byteLength;
      attempt = 0;
      let t = tracks[0];
      if (inits < tracks.length) t = tracks[inits++];
      else if (tracks.length > 1 && e.data.byteLength > 48 && new DataView(e.data).getUint32(44) === 2) t = tracks[1];
      if (!t) return;
      t.queue.push(e.data);
      pump(t);
    };
    // The relay restarted, the stream changed or the network dropped: play again, waiting longer each time.
    ws.onclose = (e) => again(path, tile, attempt, "closed" + (e.reason ? ": " + e.reason : ""));
    video.play().catch(() => {});
  }
})();`;

const STYLE = `body { font: 14px system-ui, sans-serif; margin: 1rem; background: #111; color: #ddd; }
video { width: 100%; max-width: 960px; background: #000; display: block; }
form:not([hidden]) { margin: .5rem 0; display: flex; gap: .5rem; }
#wall { display: grid; grid-template-columns: repeat(auto-fill, minmax(320px, 1fr)); gap: .75rem; }
#wall figure { margin: 0; }
#wall figcaption { font-size: 12px; margin-top: .25rem; }
a { color: #8cf; }
p { margin: .5rem 0; }`;

function page(login: boolean, wall: boolean): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">${login ? '\n<meta name="msm-viewer-login" content="required">' : ""}${
    wall ? '\n<meta name="msm-viewer-wall" content="all">' : ""
  }
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>msm-relay viewer</title>
<style>${STYLE}</style>
</head>
<body>
<form id="login" data-testid="viewer-login" hidden>
<input id="user" name="user" autocomplete="username" placeholder="user" required>
<input id="password" name="password" type="password" autocomplete="current-password" placeholder="password">
<button type="submit">Watch</button>
</form>
${
    wall
      ? '<p id="status">loading the streams...</p>\n<div id="wall" data-testid="wall"></div>'
      : `<video id="video" data-testid="viewer-video" muted autoplay playsinline></video>
<p id="status">connecting...</p>
<p id="frames" data-testid="viewer-frames"></p>`
  }
<script>${SCRIPT}</script>
</body>
</html>
`;
}

/** The player page (the same for every path: it reads its path from the URL). */
export const VIEWER_PAGE = page(false, false);
/** The player page of a relay with users: it asks for one first (the same script, told by a meta element). */
export const VIEWER_LOGIN_PAGE = page(true, false);
/** The wall: every stream of the relay, a tile each (`/watch/`). */
export const VIEWER_WALL_PAGE = page(false, true);
/** The wall of a relay with users. */
export const VIEWER_WALL_LOGIN_PAGE = page(true, true);

/** The player page's Content-Security-Policy: its own inline script and style, media from MSE, its WebSocket. */
export const VIEWER_CSP = [
  "default-src 'none'",
  `script-src ${sha256(SCRIPT)}`,
  `style-src ${sha256(STYLE)}`,
  "media-src blob:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  // The dashboard (same origin) plays a stream in its card; no other site may frame the page.
  "frame-ancestors 'self'",
].join("; ");
