/**
 * msm-relay entry point: parse flags, environment and config file, start the relay, drain on SIGTERM/SIGINT.
 * @module
 */
import { ConfigError } from "./src/config/config_error.ts";
import { USAGE } from "./src/config/help.ts";
import { loadConfig } from "./src/config/load.ts";
import { createLogger } from "./src/log.ts";
import { startRelay } from "./src/app.ts";
import { reportContained, setContainmentLogger } from "./src/contain.ts";

async function main(): Promise<number> {
  let result;
  try {
    result = loadConfig({
      args: Deno.args,
      env: (name) => Deno.env.get(name),
      readTextFile: (path) => Deno.readTextFileSync(path),
    });
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(`msm-relay: ${err.message}`);
      return 2;
    }
    throw err;
  }
  if (result.kind === "help") {
    console.log(USAGE);
    return 0;
  }
  const config = result.config;
  const logger = createLogger({ level: config.logLevel });
  // The last resort: an error no callback contained must not end every stream of the relay. The places that can
  // throw contain their own errors (src/contain.ts); what still arrives here is a bug, logged and counted.
  setContainmentLogger(logger.child("contain"));
  globalThis.addEventListener("error", (e) => {
    e.preventDefault();
    reportContained("uncaught exception", e.error);
  });
  globalThis.addEventListener("unhandledrejection", (e) => {
    e.preventDefault();
    reportContained("unhandled rejection", e.reason);
  });
  let relay;
  try {
    relay = await startRelay(config, logger);
  } catch (err) {
    logger.error("cannot start", { error: (err as Error).message });
    return 1;
  }
  const stopped = new Promise<string>((resolve) => {
    Deno.addSignalListener("SIGTERM", () => resolve("SIGTERM"));
    Deno.addSignalListener("SIGINT", () => resolve("SIGINT"));
  });
  const signal = await stopped;
  // SIGTERM (Kubernetes): up to 8 s for the children in the mesh to move, then 2 s to close, inside a 15 s grace.
  // SIGINT (a person at a terminal): the same, faster.
  const drainMs = signal === "SIGINT" ? 1000 : 8000;
  const closeMs = 2000;
  logger.info("shutting down", { signal, drainMs });
  await relay.drain(drainMs).catch((err) => logger.warn("drain failed", { error: String(err) }));
  let timer: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([relay.close(), new Promise((r) => (timer = setTimeout(r, closeMs)))]);
  clearTimeout(timer);
  logger.info("stopped", { signal });
  return 0;
}

if (import.meta.main) Deno.exit(await main());
