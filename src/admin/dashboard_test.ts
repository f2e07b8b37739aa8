import { equal, match, ok as assert } from "node:assert/strict";
import { createHash } from "node:crypto";
import { dashboardRoutes } from "./dashboard.ts";
import { DASHBOARD_SCRIPT, DASHBOARD_STYLE, renderDashboardHtml } from "./dashboard_page.ts";

function hashSource(text: string): string {
  return `'sha256-${createHash("sha256").update(text, "utf8").digest("base64")}'`;
}

/** The text between `<tag>` and `</tag>` (the page has exactly one of each). */
function between(html: string, tag: string): string {
  const open = html.indexOf(`<${tag}>`);
  const close = html.indexOf(`</${tag}>`);
  assert(open >= 0 && close > open, `no <${tag}> element`);
  equal(html.indexOf(`<${tag}`, open + 1), -1, `more than one <${tag}> element`);
  return html.slice(open + tag.length + 2, close);
}

Deno.test("dashboardRoutes() serves the page as HTML with a strict Content-Security-Policy", async () => {
  const res = await dashboardRoutes({ node: "node-a" }).request("/");
  equal(res.status, 200);
  match(res.headers.get("Content-Type") ?? "", /^text\/html/);
  equal(res.headers.get("X-Content-Type-Options"), "nosniff");
  const csp = res.headers.get("Content-Security-Policy") ?? "";
  const directives = new Map(
    csp.split(";").map((d) => {
      const [name = "", ...values] = d.trim().split(/\s+/);
      return [name, values] as const;
    }),
  );
  equal(directives.get("default-src")?.join(" "), "'none'");
  equal(directives.get("connect-src")?.join(" "), "'self'");
  equal(directives.get("script-src")?.join(" "), hashSource(DASHBOARD_SCRIPT));
  equal(directives.get("style-src")?.join(" "), hashSource(DASHBOARD_STYLE));
  assert(!csp.includes("unsafe"), csp);

  const html = await res.text();
  match(html, /<title>msm-relay node-a<\/title>/);
  // The browser hashes exactly the text between the tags: it must be the hashed constant.
  equal(between(html, "script"), DASHBOARD_SCRIPT);
  equal(between(html, "style"), DASHBOARD_STYLE);
});

Deno.test("dashboardRoutes() page refers to nothing outside this relay", async () => {
  const html = await (await dashboardRoutes({ node: "n" }).request("/")).text();
  equal(html.match(/(?:https?:)?\/\/[a-z0-9.-]+\.[a-z]{2,}/gi), null, "no absolute URL to another site");
  const refs = [...html.matchAll(/<(?:script|link|img|iframe)\b[^>]*\b(?:src|href)="([^"]*)"/gi)].map((m) =>
    m[1]
  );
  equal(refs.join(" "), "/favicon.svg", "no script or style loaded from elsewhere; only the icon, from here");
  equal(DASHBOARD_STYLE.match(/@import|url\(/gi), null, "no CSS that loads anything");
  equal(html.match(/\bstyle="/gi), null, "no style attribute (the CSP would block it)");
  equal(html.match(/\bon[a-z]+="/gi), null, "no inline event handler (the CSP would block it)");
});

Deno.test("dashboardRoutes() inline script parses and does not close its element early", () => {
  new Function(DASHBOARD_SCRIPT); // throws SyntaxError if it does not parse
  assert(!/<\/script/i.test(DASHBOARD_SCRIPT));
  assert(!/<\/style/i.test(DASHBOARD_STYLE));
});

Deno.test("renderDashboardHtml() escapes the node name", () => {
  const html = renderDashboardHtml(`<b>"x"&'y'</b>`);
  assert(!html.includes("<b>"));
  match(html, /<title>msm-relay &#60;b&#62;&#34;x&#34;&#38;&#39;y&#39;&#60;\/b&#62;<\/title>/);
});

Deno.test("dashboardRoutes() serves the page's icon as SVG", async () => {
  const res = await dashboardRoutes({ node: "n" }).request("/favicon.svg");
  equal(res.status, 200);
  equal(res.headers.get("Content-Type"), "image/svg+xml");
  match(await res.text(), /^<svg [^>]*viewBox/);
});

Deno.test("renderDashboardHtml() takes a node name with $ patterns literally", () => {
  const html = renderDashboardHtml("a$&b$'c$`d$$");
  match(html, /<title>msm-relay a\$&#38;b\$&#39;c\$`d\$\$<\/title>/);
  match(html, /data-node="a\$&#38;b\$&#39;c\$`d\$\$"/);
});

Deno.test("renderDashboardHtml() is index.html with dashboard.css and dashboard.js inline", async () => {
  const dir = new URL("./dashboard/", import.meta.url);
  const [template, css, js] = await Promise.all(
    ["index.html", "dashboard.css", "dashboard.js"].map((f) => Deno.readTextFile(new URL(f, dir))),
  );
  const html = renderDashboardHtml("node-a");
  equal(between(html, "style"), `\n${css}`);
  equal(between(html, "script"), `\n${js}`);
  assert(!/dashboard\.(css|js)/.test(html), "the page still refers to its asset files");
  assert(!/\{\{\s*node\s*\}\}/.test(html), "a node slot was left unfilled");
  equal(html.match(/node-a/g)?.length, template!.match(/\{\{\s*node\s*\}\}/g)?.length);
  // Everything around the inline text is index.html as written.
  const outside = html.replace(/<style>[^]*<\/style>/, "").replace(/<script>[^]*<\/script>/, "");
  const expected = template!.replace(/<link rel="stylesheet"[^>]*>/, "").replace(
    /<script src=[^>]*><\/script>/,
    "",
  )
    .replace(/\{\{\s*node\s*\}\}/g, "node-a");
  equal(outside, expected);
});

Deno.test("dashboardRoutes() serves favicon.svg as the icon", async () => {
  const res = await dashboardRoutes({ node: "n" }).request("/favicon.svg");
  equal(await res.text(), await Deno.readTextFile(new URL("./dashboard/favicon.svg", import.meta.url)));
  equal(res.headers.get("Cache-Control"), "max-age=86400");
});
