/**
 * The dashboard page, assembled from its asset files in `./dashboard/`: `index.html` (the document),
 * `dashboard.css` (its style sheet), `dashboard.js` (its script: vanilla JS that polls the admin JSON API every
 * second and draws the plots on `<canvas>`) and `favicon.svg` (its icon).
 *
 * The files are imported as text (`with { type: "text" }`, stable since Deno 2.8), so they are part of the
 * module graph: `deno run`, `deno test` and `deno compile` (which embeds them) all see the same text and nothing
 * is read from disk at run time. Nothing is fetched from elsewhere either (the cluster may be offline).
 *
 * The document refers to its style sheet and script by file name (`<link rel="stylesheet" href="dashboard.css">`,
 * `<script src="dashboard.js"></script>`) so editors can follow them; the page served puts their text inline in
 * place of those two tags, as one self-contained response, and the Content-Security-Policy allows exactly that
 * inline text by its SHA-256 hash ({@link dashboardCsp}). The server holds no dashboard state: the script keeps
 * the last five minutes of samples in the browser.
 * @module
 */
import { createHash } from "node:crypto";
import PAGE_TEMPLATE from "./dashboard/index.html" with { type: "text" };
import STYLE_FILE from "./dashboard/dashboard.css" with { type: "text" };
import SCRIPT_FILE from "./dashboard/dashboard.js" with { type: "text" };
import ICON_FILE from "./dashboard/favicon.svg" with { type: "text" };

/** The tag in `index.html` that the inline style sheet replaces. */
const STYLE_LINK = /<link rel="stylesheet" href="dashboard\.css"\s*\/?>/g;
/** The tag in `index.html` that the inline script replaces. */
const SCRIPT_LINK = /<script src="dashboard\.js"><\/script>/g;
/** Where `index.html` shows this relay's node name (HTML-escaped); deno fmt writes it `{{ node }}` in text. */
const NODE_SLOT = /\{\{\s*node\s*\}\}/g;

/** The page's style sheet as served: the text of its only `<style>` element (`dashboard.css`). */
export const DASHBOARD_STYLE: string = `\n${STYLE_FILE}`;

/** The page's script as served: the text of its only `<script>` element (`dashboard.js`). Plain ES2020. */
export const DASHBOARD_SCRIPT: string = `\n${SCRIPT_FILE}`;

/** The page's icon (a relay: one dot feeding three), at `/favicon.svg` (`favicon.svg`). */
export const DASHBOARD_ICON: string = ICON_FILE;

/**
 * Checks that the asset files fit together before anything is served: one tag of each kind to replace, a slot
 * for the node name, and no text that would end its inline element early.
 * @throws Error naming the file and what is wrong with it
 */
function checkAssets(): void {
  const once = (count: number, what: string): void => {
    if (count !== 1) {
      throw new Error(`Dashboard asset "index.html" must have ${what} once, not ${count} times`);
    }
  };
  once(PAGE_TEMPLATE.match(STYLE_LINK)?.length ?? 0, `<link rel="stylesheet" href="dashboard.css">`);
  once(PAGE_TEMPLATE.match(SCRIPT_LINK)?.length ?? 0, `<script src="dashboard.js"></script>`);
  if (PAGE_TEMPLATE.match(NODE_SLOT) === null) {
    throw new Error(`Dashboard asset "index.html" has no "{{node}}" slot for the node name`);
  }
  if (/<\/style/i.test(STYLE_FILE)) {
    throw new Error(`Dashboard asset "dashboard.css" contains "</style", which would end its inline element`);
  }
  if (/<\/script|<!--/i.test(SCRIPT_FILE)) {
    throw new Error(
      `Dashboard asset "dashboard.js" contains "</script" or "<!--", which breaks its inline element`,
    );
  }
}
checkAssets();

/**
 * The Content-Security-Policy of the page: nothing but this origin's API, and only the page's own inline
 * script and style (by SHA-256 hash).
 * @returns the header value
 * @example new Headers({ "Content-Security-Policy": dashboardCsp() })
 */
export function dashboardCsp(): string {
  return CSP;
}

/** A CSP source allowing exactly `text` (an inline script or style) by its SHA-256. */
export function sha256(text: string): string {
  return `'sha256-${createHash("sha256").update(text, "utf8").digest("base64")}'`;
}

const CSP = [
  "default-src 'none'",
  `script-src ${sha256(DASHBOARD_SCRIPT)}`,
  `style-src ${sha256(DASHBOARD_STYLE)}`,
  "connect-src 'self'",
  "img-src 'self'",
  // A stream card plays its stream in place: the viewer page (`/watch/{path}`) in a frame.
  "frame-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join("; ");

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/**
 * The whole page for relay `node`: `index.html` with the node name in its slots and the style sheet and script
 * inline.
 * @param node this relay's node name (shown before the first poll; HTML-escaped)
 * @returns the HTML document
 * @example renderDashboardHtml("node-a").startsWith("<!doctype html>")
 */
export function renderDashboardHtml(node: string): string {
  // The name goes in first, escaped, so it can neither form a tag replaced below nor touch the inline text;
  // the replacements are functions so that `$` in the name and the assets is taken literally.
  const name = escapeHtml(node);
  return PAGE_TEMPLATE.replaceAll(NODE_SLOT, () => name)
    .replace(STYLE_LINK, () => `<style>${DASHBOARD_STYLE}</style>`)
    .replace(SCRIPT_LINK, () => `<script>${DASHBOARD_SCRIPT}</script>`);
}
