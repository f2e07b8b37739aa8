/**
 * The dashboard at `GET /`: one self-contained page (no build step, no CDN) that polls this relay's JSON API and
 * shows, per stream, its state, the tree as this relay sees it (with links to the peers' dashboards), live plots
 * of bitrate, loss and jitter on the hop into this relay, and its sessions.
 *
 * The page is written as real files in `./dashboard/` (HTML, CSS, JS, SVG); {@link ./dashboard_page.ts} imports
 * them as text, so the compiled binary carries them, and assembles the page served here.
 * @module
 */
import { Hono } from "hono";
import type { AdminDeps } from "./app.ts";
import { DASHBOARD_ICON, dashboardCsp, renderDashboardHtml } from "./dashboard_page.ts";

/**
 * Routes of the dashboard, to mount at `/` of the admin app. The page itself carries no data (the script reads
 * the API, with the bearer token the user gives when the API asks for one), so it is served without auth.
 * @param deps the admin dependencies; only `node` (shown in the title) is read
 * @returns a Hono app serving `GET /` and its icon `GET /favicon.svg`
 * @example app.route("/", dashboardRoutes(deps));
 */
export function dashboardRoutes(deps: Pick<AdminDeps, "node">): Hono {
  const app = new Hono();
  const html = renderDashboardHtml(deps.node);
  const csp = dashboardCsp();
  app.get("/", function dashboardPage(c) {
    c.header("Content-Security-Policy", csp);
    c.header("X-Content-Type-Options", "nosniff");
    c.header("Referrer-Policy", "no-referrer");
    c.header("Cache-Control", "no-cache");
    return c.html(html);
  });
  app.get("/favicon.svg", function dashboardIcon(c) {
    c.header("Content-Type", "image/svg+xml");
    c.header("Cache-Control", "max-age=86400");
    return c.body(DASHBOARD_ICON);
  });
  return app;
}
