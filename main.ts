/**
 * msm-relay entry point: parse flags, environment and config file, start the relay, drain on SIGTERM/SIGINT.
 * @module
 */
import { ConfigError, loadConfig, USAGE } from "./src/config/load.ts";
import { createLogger } from "./src/log.ts";
import { startRelay } from "./src/app.ts";

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
  logger.info("shutting down", { signal });
  await Promise.race([relay.close(), new Promise((r) => setTimeout(r, signal === "SIGINT" ? 2000 : 10_000))]);
  return 0;
}

if (import.meta.main) Deno.exit(await main());
