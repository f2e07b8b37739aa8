"use strict";
(() => {
  const POLL_MS = 1000;
  const WINDOW_MS = 5 * 60 * 1000; // history kept and widest plot span
  const MIN_SPAN_MS = 30 * 1000; // narrowest plot span, while the history is short
  const TOKEN_KEY = "msm-admin-token";
  const PLOTS = [
    { key: "bitrate", title: "Bitrate", fmt: fmtBitrate },
    { key: "loss", title: "Loss", fmt: (v) => v.toFixed(2) + " %" },
    { key: "jitter", title: "Jitter", fmt: (v) => v.toFixed(v < 10 ? 2 : 1) + " ms" },
  ];
  const ui = new Map(); // path -> per-stream DOM and history
  let peers = new Map(); // node -> peer
  let selfNode = document.body.dataset.node || "";
  let authFailed = false;
  let tokenRefused = false; // the last token given was refused (and forgotten)
  let waitMs = 0; // set by a 429: no poll before it has passed
  let lastPoll = Date.now(); // time of the last samples: plots redrawn on resize keep their right edge

  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === "text") e.textContent = String(v);
      else if (k === "class") e.className = v;
      else e.setAttribute(k, v === true ? "" : String(v));
    }
    for (const c of children) if (c !== null && c !== undefined) e.append(c);
    return e;
  }

  function fmtBitrate(v) {
    if (v >= 1e6) return (v / 1e6).toFixed(2) + " Mbit/s";
    if (v >= 1e3) return (v / 1e3).toFixed(1) + " kbit/s";
    return v.toFixed(0) + " bit/s";
  }
  function fmtBytes(n) {
    if (n >= 1048576) return (n / 1048576).toFixed(1) + " MiB";
    if (n >= 1024) return (n / 1024).toFixed(1) + " KiB";
    return n + " B";
  }
  function sum(xs) {
    return xs.reduce((a, b) => a + (Number.isFinite(b) ? b : 0), 0);
  }

  // ---- API --------------------------------------------------------------------------------------------
  class AuthError extends Error {}
  class LockedOut extends Error {
    constructor(seconds) {
      super("Too many wrong admin tokens from this address: try again in " + seconds + " s");
      this.seconds = seconds;
    }
  }
  async function api(route, optional) {
    const headers = { Accept: "application/json" };
    const token = sessionStorage.getItem(TOKEN_KEY);
    if (token) headers.Authorization = "Bearer " + token;
    const res = await fetch(route, { headers, cache: "no-store" });
    if (res.status === 429) throw new LockedOut(Math.max(1, Number(res.headers.get("Retry-After")) || 60));
    if (res.status === 401 || res.status === 403) {
      // A refused token is forgotten, not sent again with every poll: each wrong try counts against this
      // address, and too many lock it out for a while.
      if (token && res.status === 401) {
        sessionStorage.removeItem(TOKEN_KEY);
        tokenRefused = true;
      }
      throw new AuthError("The admin API wants a bearer token");
    }
    if (optional && res.status === 404) return null;
    if (!res.ok) throw new Error("GET " + route + " answered " + res.status);
    return res.json();
  }
  function encodePath(path) {
    return path.split("/").map(encodeURIComponent).join("/");
  }

  // ---- Links to peers ---------------------------------------------------------------------------------
  function peerUrl(p) {
    const host = p.host.includes(":") ? "[" + p.host + "]" : p.host;
    return "http://" + host + ":" + p.adminPort + "/";
  }
  function nodeLabel(node, extra) {
    const li = el("li");
    const p = peers.get(node);
    if (node === selfNode) {
      li.append(
        el("span", { class: "self", text: node }),
        el("span", { class: "note", text: " (this relay)" }),
      );
    } else if (p) {
      li.append(el("a", { href: peerUrl(p), text: node, title: "Dashboard of relay " + node }));
      if (p.live === false) li.append(el("span", { class: "note live-no", text: " (down)" }));
    } else {
      li.append(el("span", { text: node }));
    }
    if (p && p.zone) li.append(el("span", { class: "note", text: " zone " + p.zone }));
    if (extra) li.append(el("span", { class: "note", text: " " + extra }));
    return li;
  }

  // ---- The whole tree as a graph (at the root, which knows the plan) -----------------------------------------
  // The SVG namespace, as the HTML parser gives it to an <svg> element (the page names no address outside this relay).
  const SVG = (() => {
    const holder = document.createElement("div");
    holder.innerHTML = "<svg></svg>";
    return holder.firstChild.namespaceURI;
  })();
  function svg(tag, attrs, ...children) {
    const e = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v !== undefined && v !== null) e.setAttribute(k, String(v));
    }
    for (const c of children) if (c !== null && c !== undefined) e.append(c);
    return e;
  }
  /** A hop is drawn in the alarm colour over these: 1 % of packets lost, or 30 ms of jitter. */
  const HOP_LOSS_ALARM = 0.01;
  const HOP_JITTER_ALARM_MS = 30;
  function treeGraph(path, tv) {
    const root = tv.root || tv.node || selfNode;
    const plan = tv.plan || {};
    const second = tv.planParents || {};
    const members = new Map((tv.members || []).map((m) => [m.node, m]));
    const nodes = [root, ...Object.keys(plan).sort()];
    const depth = new Map([[root, 0]]);
    const depthOf = (n, seen = 0) => {
      if (depth.has(n)) return depth.get(n);
      const d = seen > nodes.length ? 1 : depthOf(plan[n], seen + 1) + 1;
      depth.set(n, d);
      return d;
    };
    for (const n of nodes) depthOf(n);
    // Relays grouped by zone (one band each), columns by depth.
    const zoneOf = (n) => (peers.get(n) && peers.get(n).zone) || "";
    const zones = [...new Set(nodes.map(zoneOf))].sort();
    const rows = new Map();
    const place = new Map();
    for (const n of nodes.slice().sort((a, b) => depth.get(a) - depth.get(b) || a.localeCompare(b))) {
      const key = zoneOf(n) + "|" + depth.get(n);
      const i = rows.get(key) || 0;
      rows.set(key, i + 1);
      place.set(n, { col: depth.get(n), zone: zones.indexOf(zoneOf(n)), row: i });
    }
    const bandRows = zones.map((z) =>
      Math.max(1, ...nodes.filter((n) => zoneOf(n) === z).map((n) => place.get(n).row + 1))
    );
    const bandTop = bandRows.map((_, i) => bandRows.slice(0, i).reduce((a, b) => a + b, 0));
    const W = 190, H = 64, PAD = 20;
    const cols = Math.max(...nodes.map((n) => place.get(n).col)) + 1;
    const width = PAD * 2 + cols * W,
      height = PAD * 2 + bandRows.reduce((a, b) => a + b, 0) * H + zones.length * 12;
    const at = (n) => {
      const p = place.get(n);
      return { x: PAD + p.col * W + 40, y: PAD + (bandTop[p.zone] + p.row) * H + p.zone * 12 + 28 };
    };
    const g = svg("svg", {
      viewBox: "0 0 " + width + " " + height,
      width,
      height,
      role: "img",
      "data-testid": "tree-graph-" + path,
      "aria-label": "The tree of " + path + " across the cluster: " + nodes.length + " relays",
    });
    zones.forEach((z, i) => {
      if (!z) return;
      const y = PAD + bandTop[i] * H + i * 12;
      g.append(svg("text", { x: 4, y: y + 8, class: "zone" }, z));
    });
    const edge = (child, parent, dashed) => {
      const a = at(parent), b = at(child);
      const hop = members.get(child) && members.get(child).hop;
      const alarm = hop && (hop.lost > HOP_LOSS_ALARM || hop.jitterMs > HOP_JITTER_ALARM_MS);
      const line = svg("line", {
        x1: a.x + 12,
        y1: a.y,
        x2: b.x - 12,
        y2: b.y,
        class: "edge" + (dashed ? " second" : "") + (alarm ? " alarm" : ""),
        "data-testid": "edge-" + parent + "-" + child,
      });
      g.append(line);
      if (hop && !dashed) {
        g.append(
          svg("text", {
            x: (a.x + b.x) / 2,
            y: (a.y + b.y) / 2 - 4,
            class: "hop" + (alarm ? " alarm" : ""),
            "data-testid": "hop-" + child,
          }, (100 * hop.lost).toFixed(2) + " % lost, " + hop.jitterMs.toFixed(1) + " ms"),
        );
      }
    };
    for (const n of nodes.slice(1)) {
      if (plan[n]) edge(n, plan[n], false);
      const both = second[n];
      if (both && both.length > 1) edge(n, both[1], true);
    }
    for (const n of nodes) {
      const { x, y } = at(n);
      const m = members.get(n);
      const label = n + (m ? " (" + m.readers + " reader" + (m.readers === 1 ? "" : "s") + ")" : " (root)");
      const p = peers.get(n);
      const body = svg(
        "g",
        { class: "node" + (n === root ? " root" : ""), "data-testid": "node-" + n },
        svg("circle", { cx: x, cy: y, r: 10 }),
        svg("text", { x: x - 12, y: y + 24 }, label), // under the node: the edges run level with it
      );
      g.append(p && !p.self ? svg("a", { href: peerUrl(p) }, body) : body);
    }
    return g;
  }

  // ---- The tree as this relay sees it -----------------------------------------------------------------
  function treeList(stream, tv) {
    const root = el("ul");
    if (!tv) {
      if (stream.kind === "mesh") {
        root.append(el("li", { class: "note", text: "Not attached to a parent yet." }));
      } else {
        const li = nodeLabel(selfNode, "root: the stream enters the mesh here");
        li.append(el("ul", {}, el("li", { class: "note", text: "No peer relay takes this stream." })));
        root.append(li);
      }
      return root;
    }
    if (tv.role === "root" && tv.plan && Object.keys(tv.plan).length > 0) {
      // The whole tree drawn: where jitter and loss enter, hop by hop.
      root.append(el("li", { class: "graph" }, treeGraph(stream.path, tv)));
    }
    if (tv.role === "root") {
      const readers = new Map((tv.members || []).map((m) => [m.node, m.readers]));
      const kids = new Map();
      for (const [child, parent] of Object.entries(tv.plan || {})) {
        if (!kids.has(parent)) kids.set(parent, []);
        kids.get(parent).push(child);
      }
      if (!tv.plan) kids.set(tv.node || selfNode, tv.children || []);
      const seen = new Set();
      const build = (node, note) => {
        seen.add(node);
        const r = readers.get(node);
        const both = (tv.planParents || {})[node];
        const li = nodeLabel(
          node,
          [
            note,
            r === undefined ? "" : r + " reader" + (r === 1 ? "" : "s"),
            both && both.length > 1 ? "second parent " + both[1] : "",
            tv.standby && tv.standby.node === node ? "standby root: pulls the camera too" : "",
          ].filter(Boolean).join(", "),
        );
        const cs = (kids.get(node) || []).filter((c) => !seen.has(c)).sort();
        if (cs.length) li.append(el("ul", {}, ...cs.map((c) => build(c, ""))));
        return li;
      };
      const promoted = tv.standby && tv.standby.promoted;
      root.append(
        build(tv.root || tv.node || selfNode, promoted ? "root, took over as the standby" : "root"),
      );
      return root;
    }
    // The whole tree, as the root plans it (the relay asked the root for it).
    if (tv.whole && tv.whole.plan && Object.keys(tv.whole.plan).length > 0) {
      root.append(el("li", { class: "graph" }, treeGraph(stream.path, tv.whole)));
    }
    // A member knows the root, its parent and its children.
    // The standby root pulls the camera too, aligned with the root's numbering (dual-path protection).
    const standbyNote = tv.standby
      ? "; standby root, its camera session " + (tv.standby.aligned ? "aligned" : "not aligned yet")
      : "";
    const me = nodeLabel(tv.node || selfNode, "hop: mesh" + standbyNote);
    const children = tv.children || [];
    me.append(
      el(
        "ul",
        {},
        ...(children.length
          ? children.map((c) => nodeLabel(c, "child"))
          : [el("li", { class: "note", text: "No children." })]),
      ),
    );
    const second = (tv.parents || [])[1];
    if (second) {
      // Dual-path protection: the second parent feeds this relay too, by a path that shares no relay but the root.
      me.append(el("ul", {}, nodeLabel(second, "second parent (dual-path protection)")));
    }
    let top = me;
    if (tv.parent) {
      const parent = nodeLabel(tv.parent, tv.parent === tv.root ? "root, parent" : "parent");
      parent.append(el("ul", {}, me));
      top = parent;
      if (tv.root && tv.root !== tv.parent) {
        const r = nodeLabel(tv.root, "root");
        r.append(el("ul", {}, el("li", { class: "note", text: "\u22ee" }, el("ul", {}, parent))));
        top = r;
      }
    }
    root.append(top);
    return root;
  }

  // ---- Plots ------------------------------------------------------------------------------------------
  function niceCeil(v) {
    if (!(v > 0)) return 1;
    const p = Math.pow(10, Math.floor(Math.log10(v)));
    for (const m of [1, 2, 5, 10]) if (m * p >= v) return m * p;
    return 10 * p;
  }
  function drawPlot(canvas, samples, key, fmt, now) {
    const dpr = globalThis.devicePixelRatio || 1;
    const w = canvas.clientWidth, h = canvas.clientHeight;
    if (!w || !h) return;
    if (canvas.width !== Math.round(w * dpr) || canvas.height !== Math.round(h * dpr)) {
      canvas.width = Math.round(w * dpr);
      canvas.height = Math.round(h * dpr);
    }
    const ctx = canvas.getContext("2d");
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, w, h);
    const css = getComputedStyle(canvas);
    const color = css.color;
    const muted = getComputedStyle(document.body).getPropertyValue("--muted").trim() || "#888";
    const gridColor = getComputedStyle(document.body).getPropertyValue("--line").trim() || "#ccc";
    const top = 14, bottom = h - 14, left = 0, right = w;
    const pts = samples.filter((s) => s[key] !== null && s[key] !== undefined);
    const max = niceCeil(Math.max(0, ...pts.map((s) => s[key])));
    const span = Math.min(WINDOW_MS, Math.max(MIN_SPAN_MS, pts.length ? now - pts[0].t : 0));
    const x = (t) => left + (right - left) * (1 - (now - t) / span);
    const y = (v) => bottom - (bottom - top) * (v / max);
    ctx.strokeStyle = gridColor;
    ctx.lineWidth = 1;
    ctx.beginPath();
    for (const f of [0, 0.5, 1]) {
      const gy = Math.round(y(max * f)) + 0.5;
      ctx.moveTo(left, gy);
      ctx.lineTo(right, gy);
    }
    ctx.stroke();
    ctx.fillStyle = muted;
    ctx.font = "11px system-ui, sans-serif";
    ctx.textBaseline = "bottom";
    ctx.textAlign = "left";
    ctx.fillText(fmt(max), left + 2, top - 1);
    ctx.textBaseline = "top";
    ctx.fillText(
      "\u2212" + (span >= 120000 ? Math.round(span / 60000) + " min" : Math.round(span / 1000) + " s"),
      left + 2,
      bottom + 1,
    );
    ctx.textAlign = "right";
    ctx.fillText("now", right - 2, bottom + 1);
    // The series: one run per stretch of consecutive samples (a gap over 3 poll periods breaks it), each a
    // light fill under a 2 px line.
    const runs = [];
    for (const s of pts) {
      const run = runs[runs.length - 1];
      if (run && s.t - run[run.length - 1].t <= 3 * POLL_MS + 500) run.push(s);
      else runs.push([s]);
    }
    ctx.strokeStyle = color;
    ctx.fillStyle = color;
    ctx.lineWidth = 2;
    ctx.lineJoin = "round";
    for (const run of runs) {
      ctx.beginPath();
      run.forEach((s, i) => (i ? ctx.lineTo(x(s.t), y(s[key])) : ctx.moveTo(x(s.t), y(s[key]))));
      const line = new Path2D();
      run.forEach((s, i) => (i ? line.lineTo(x(s.t), y(s[key])) : line.moveTo(x(s.t), y(s[key]))));
      ctx.lineTo(x(run[run.length - 1].t), bottom);
      ctx.lineTo(x(run[0].t), bottom);
      ctx.closePath();
      ctx.globalAlpha = 0.12;
      ctx.fill();
      ctx.globalAlpha = 1;
      ctx.stroke(line);
    }
    if (pts.length === 1) {
      ctx.fillStyle = color;
      ctx.fillRect(x(pts[0].t) - 2, y(pts[0][key]) - 2, 4, 4);
    }
    canvas.dataset.points = String(pts.length);
  }

  // ---- One stream -------------------------------------------------------------------------------------
  function streamUi(path) {
    let u = ui.get(path);
    if (u) return u;
    const id = "s-" + ui.size + "-" + path.replace(/[^A-Za-z0-9_-]/g, "_");
    const facts = el("dl", { class: "facts" });
    const tree = el("div", { class: "tree", "data-testid": "tree-" + path, "aria-labelledby": id + "-tree" });
    const plots = {};
    const figs = PLOTS.map((p) => {
      const value = el("span", { class: "value", "data-testid": p.key + "-value-" + path, text: "\u2014" });
      const canvas = el("canvas", {
        class: p.key,
        role: "img",
        "data-testid": p.key + "-plot-" + path,
        "aria-label": p.title + " of " + path + " over the last 5 minutes: no data yet",
      });
      const caption = el("span", { id: id + "-" + p.key, text: p.title });
      plots[p.key] = { value, canvas, caption, spec: p };
      return el("figure", {}, el("figcaption", {}, caption, value), canvas);
    });
    const readers = el("tbody");
    const watchUrl = "/watch/" + path.split("/").map(encodeURIComponent).join("/");
    // Click to play: the viewer page in a frame of the card; click again to stop (the frame goes, so does the viewer).
    const player = el("div", { class: "player", "data-testid": "player-" + path });
    const playButton = el("button", {
      type: "button",
      class: "play",
      "data-testid": "play-" + path,
      text: "Play here",
    });
    playButton.addEventListener("click", () => {
      if (player.firstChild) {
        player.replaceChildren();
        playButton.textContent = "Play here";
        return;
      }
      player.append(
        el("iframe", { src: watchUrl, title: "live picture of " + path, "data-testid": "frame-" + path }),
      );
      playButton.textContent = "Stop";
    });
    const section = el(
      "section",
      { class: "card stream", "aria-labelledby": id, "data-testid": "stream-" + path },
      el("h2", { id, text: path }),
      // Plays it in this browser (WebRTC, else MSE: the viewer page), in the card or in a tab of its own.
      el("a", {
        class: "watch",
        href: watchUrl,
        target: "_blank",
        rel: "noopener",
        "data-testid": "watch-" + path,
        text: "Watch in the browser",
      }),
      playButton,
      player,
      facts,
      el("h3", { id: id + "-tree", text: "Tree (as this relay sees it)" }),
      tree,
      el("h3", { class: "hop", text: "Hop into this relay" }),
      el("div", { class: "plots" }, ...figs),
      el("h3", { text: "Sessions" }),
      el(
        "table",
        {},
        el(
          "thead",
          {},
          el(
            "tr",
            {},
            ...["Session", "Role", "Remote", "Transport", "State", "Queued", "Receiver says", "Since"]
              .map((t) => el("th", { scope: "col", text: t })),
          ),
        ),
        readers,
      ),
    );
    u = {
      section,
      facts,
      tree,
      plots,
      readers,
      hop: section.querySelector(".hop"),
      samples: [],
      last: null,
      treeSig: "",
      readersSig: "",
      factsSig: "",
    };
    ui.set(path, u);
    return u;
  }

  function sample(u, s, now) {
    const tracks = s.tracks || [];
    const withStats = tracks.filter((t) => typeof t.lost === "number");
    const cur = {
      t: now,
      bytes: sum(tracks.map((t) => t.bytesIn)),
      packets: sum(tracks.map((t) => t.packetsIn)),
      lost: withStats.length ? sum(withStats.map((t) => t.lost)) : null,
      dropped: sum(tracks.map((t) => sum(Object.values(t.dropped || {})))),
      jitter: tracks.some((t) => typeof t.jitterSeconds === "number")
        ? Math.max(...tracks.map((t) => (typeof t.jitterSeconds === "number" ? t.jitterSeconds : 0))) * 1000
        : null,
    };
    const last = u.last;
    u.last = cur;
    if (!last || cur.bytes < last.bytes || cur.packets < last.packets) return; // first poll or counters reset
    const dt = (cur.t - last.t) / 1000;
    if (dt <= 0) return;
    const dPackets = cur.packets - last.packets;
    let loss;
    if (cur.lost !== null && last.lost !== null) {
      const dLost = Math.max(0, cur.lost - last.lost);
      loss = dPackets + dLost > 0 ? (100 * dLost) / (dPackets + dLost) : 0;
    } else {
      const dDropped = Math.max(0, cur.dropped - last.dropped);
      loss = dPackets > 0 ? Math.min(100, (100 * dDropped) / dPackets) : 0;
    }
    u.samples.push({ t: now, bitrate: ((cur.bytes - last.bytes) * 8) / dt, loss, jitter: cur.jitter });
    while (u.samples.length && u.samples[0].t < now - WINDOW_MS) u.samples.shift();
  }

  /** Column of the Sessions table that holds {@link receiverSays}. */
  const RECEIVER_COLUMN = 6;
  /**
   * What a reader's own RTCP receiver reports say it got (a WebRTC viewer's browser sends them too): the worst
   * track's share lost since its previous report and the largest jitter, beside the relay's own figures for the
   * hop into it; in the alarm colour over the hop's thresholds.
   */
  function receiverSays(reports) {
    const rs = Object.values(reports || {});
    if (!rs.length) return { text: "no report", alarm: false };
    const lost = Math.max(...rs.map((r) => r.fractionLost));
    const jitterMs = Math.max(...rs.map((r) => r.jitterSeconds)) * 1000;
    return {
      text: (100 * lost).toFixed(1) + " % lost, " + jitterMs.toFixed(1) + " ms jitter",
      alarm: lost > HOP_LOSS_ALARM || jitterMs > HOP_JITTER_ALARM_MS,
    };
  }

  function renderStream(u, s, tv, sessions, now) {
    const kind = s.kind || "?";
    const src = s.source || {};
    const dropped = sum((s.tracks || []).map((t) => sum(Object.values(t.dropped || {}))));
    const codecs = (s.tracks || []).map((t) => [t.type, t.codec].filter(Boolean).join(" ")).join(", ");
    const facts = [
      ["State", src.state || "?", "state-" + (src.state || "unknown")],
      ["Kind", kind],
      ["Readers", String(s.readers ?? 0)],
      ["Tracks", codecs || "none"],
      ["Packets in", String(s.packetsIn ?? 0)],
      ["Packets out", String(s.packetsOut ?? 0)],
      ["Dropped", String(dropped)],
    ];
    if (src.error) facts.push(["Error", src.error, "state-error"]);
    const factsSig = JSON.stringify(facts);
    if (factsSig !== u.factsSig) {
      u.factsSig = factsSig;
      u.facts.replaceChildren(
        ...facts.map(([k, v, cls]) =>
          el(
            "div",
            { "data-testid": k.toLowerCase().replace(/ /g, "-") + "-" + s.path },
            el("dt", { text: k }),
            el("dd", { text: v, class: cls }),
          )
        ),
      );
    }
    const parent = tv && tv.role === "member" ? tv.parent : null;
    const repairs = tv && tv.repairs;
    u.hop.textContent = kind === "mesh"
      ? "Hop into this relay: mesh" + (parent ? " from " + parent : "") +
        (repairs
          ? "; repaired " + repairs.recovered + " of " + repairs.missing + " packets lost on it (" +
            repairs.unrecovered + " not in time)"
          : "")
      : "Hop into this relay: source (" + kind + ")";
    const treeSig = JSON.stringify([tv, kind, [...peers.values()].map((p) => [p.node, p.live])]);
    if (treeSig !== u.treeSig) {
      u.treeSig = treeSig;
      u.tree.replaceChildren(treeList(s, tv));
    }
    const mine = sessions.filter((x) => x.path === s.path);
    const rows = mine.map((x) => [
      String(x.id),
      x.role || "",
      x.remote || "",
      (x.transport || []).join(", "),
      x.state || "",
      fmtBytes(x.queuedBytes || 0),
      receiverSays(x.reports),
      x.createdAt ? new Date(x.createdAt).toLocaleTimeString() : "",
    ]);
    const readersSig = JSON.stringify(rows);
    if (readersSig !== u.readersSig) {
      u.readersSig = readersSig;
      u.readers.replaceChildren(
        ...(rows.length
          ? rows.map((r) =>
            el(
              "tr",
              { "data-testid": "session-" + r[0] },
              ...r.map((c, i) =>
                i === RECEIVER_COLUMN && c.alarm
                  ? el("td", { class: "alarm", text: c.text })
                  : el("td", { text: i === RECEIVER_COLUMN ? c.text : c })
              ),
            )
          )
          : [el("tr", {}, el("td", { colspan: 8, class: "muted", text: "No sessions." }))]),
      );
    }
    const lastSample = u.samples[u.samples.length - 1];
    for (const key of Object.keys(u.plots)) {
      const p = u.plots[key];
      const v = lastSample ? lastSample[key] : null;
      if (v === null || v === undefined) {
        p.value.textContent = "\u2014";
        delete p.value.dataset.value;
      } else {
        p.value.textContent = p.spec.fmt(v);
        p.value.dataset.value = String(v);
      }
      drawPlot(p.canvas, u.samples, key, p.spec.fmt, now);
      p.canvas.setAttribute(
        "aria-label",
        p.spec.title + " of " + s.path + " over the last 5 minutes: " +
          (v === null || v === undefined ? "no data yet" : "now " + p.spec.fmt(v)),
      );
    }
  }

  function renderPeers() {
    const list = document.getElementById("peers");
    const sorted = [...peers.values()].sort((a, b) => a.node.localeCompare(b.node));
    const sig = JSON.stringify(sorted.map((p) => [p.node, p.zone, p.host, p.adminPort, p.live]));
    if (list.dataset.sig === sig) return;
    list.dataset.sig = sig;
    list.replaceChildren(
      ...(sorted.length
        ? sorted.map((p) => {
          const li = nodeLabel(p.node, "");
          li.append(el("span", {
            class: "note " + (p.live ? "live-yes" : "live-no"),
            text: p.live ? " live" : " not live",
          }));
          return li;
        })
        : [el("li", { class: "muted", text: "No peers known." })]),
    );
  }

  // ---- The poll loop ----------------------------------------------------------------------------------
  function setError(msg) {
    const e = document.getElementById("error");
    if (e.textContent !== msg) e.textContent = msg;
  }

  async function poll() {
    try {
      // One request first: a wrong token costs one try, not one per route.
      const streams = await api("/api/v1/streams");
      const [sessions, peerList] = await Promise.all([api("/api/v1/sessions"), api("/api/v1/peers", true)]);
      authFailed = false;
      document.getElementById("auth").hidden = true;
      peers = new Map(((peerList && peerList.peers) || []).map((p) => [p.node, p]));
      for (const p of peers.values()) if (p.self) selfNode = p.node;
      document.getElementById("node").textContent = selfNode;
      const list = (streams.streams || []).slice().sort((a, b) => a.path.localeCompare(b.path));
      const others = [...peers.values()].some((p) => !p.self);
      // Ask for the tree only where this relay can have a part in one (a 404 otherwise).
      const trees = await Promise.all(
        list.map((s) =>
          s.kind === "mesh" || others
            ? api("/api/v1/tree/" + encodePath(s.path), true).catch(() => null)
            : null
        ),
      );
      const now = Date.now();
      lastPoll = now;
      const container = document.getElementById("streams");
      const seen = new Set();
      list.forEach((s, i) => {
        seen.add(s.path);
        const u = streamUi(s.path);
        sample(u, s, now);
        renderStream(u, s, trees[i], sessions.sessions || [], now);
        if (container.children[i] !== u.section) {
          container.insertBefore(u.section, container.children[i] || null);
        }
      });
      for (const [path, u] of ui) {
        if (!seen.has(path)) {
          u.section.remove();
          ui.delete(path);
        }
      }
      document.getElementById("empty").hidden = list.length > 0;
      renderPeers();
      document.getElementById("updated").textContent = "Updated " + new Date(now).toLocaleTimeString();
      setError("");
    } catch (err) {
      if (err instanceof AuthError) {
        authFailed = true;
        const form = document.getElementById("auth");
        if (form.hidden) {
          form.hidden = false;
          document.getElementById("token").focus();
        }
        setError(tokenRefused ? "The token was refused." : err.message + ".");
      } else if (err instanceof LockedOut) {
        authFailed = true;
        waitMs = err.seconds * 1000;
        document.getElementById("auth").hidden = false;
        setError(err.message + ".");
      } else {
        setError("Cannot read the admin API: " + (err && err.message ? err.message : String(err)));
      }
    }
  }

  let timer = 0;
  async function loop() {
    clearTimeout(timer);
    waitMs = 0;
    await poll();
    timer = setTimeout(loop, Math.max(waitMs, authFailed ? 5 * POLL_MS : POLL_MS));
  }
  document.getElementById("auth").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const input = document.getElementById("token");
    const token = input.value.trim();
    if (token) sessionStorage.setItem(TOKEN_KEY, token);
    else sessionStorage.removeItem(TOKEN_KEY);
    tokenRefused = false;
    input.value = "";
    loop();
  });
  globalThis.addEventListener("resize", () => {
    const now = lastPoll;
    for (const u of ui.values()) {
      for (const key of Object.keys(u.plots)) {
        drawPlot(u.plots[key].canvas, u.samples, key, u.plots[key].spec.fmt, now);
      }
    }
  });
  loop();
})();
