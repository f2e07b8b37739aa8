/**
 * The errors a page of the relay shows in headless Chromium: console errors and uncaught exceptions, which the
 * browser tests require to be none.
 * @module
 */
import type { Page } from "playwright-core";

/**
 * What Chromium logs when it aborts a request because the machine's network interfaces changed: other tests of
 * the suite add and remove interfaces (bridges, veth pairs) in the root network namespace while a browser test
 * runs. An event of the machine, never of the page.
 */
const MACHINE_EVENTS = /net::ERR_NETWORK_CHANGED/;

/**
 * Collects the page's errors from now on.
 * @param expected console messages the test provokes on purpose (a 401 it asked for, say)
 * @returns the list, filled as errors come
 */
export function collectPageErrors(page: Page, expected?: RegExp): string[] {
  const errors: string[] = [];
  page.on("console", (m) => {
    if (m.type() !== "error" || MACHINE_EVENTS.test(m.text()) || expected?.test(m.text())) return;
    errors.push(`console: ${m.text()}`);
  });
  page.on("pageerror", (e) => errors.push(`page: ${e.message}`));
  return errors;
}
