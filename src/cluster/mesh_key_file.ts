/**
 * Follows the mesh key file (`--mesh-key-file`, a mounted Secret) while the relay runs: when its content changes
 * the new keys take effect at once, so a key is rotated by updating the Secret, without restarting relays or
 * dropping streams. A file that cannot be read or holds bad keys keeps the keys in use, with an error line.
 * @module
 */
import type { Logger } from "../log.ts";
import { deriveKeyring, type MeshKeyring, parseMeshKeys } from "./mesh_keys.ts";

/** Options of {@linkcode followMeshKeyFile}. */
export interface MeshKeyFileOptions {
  path: string;
  /** The content the relay started with (no reload for it). */
  initial: string;
  /** Told the new keys. */
  onKeys: (ring: MeshKeyring) => void;
  logger: Logger;
  /** How often the file is read. @default 1000 */
  intervalMs?: number;
}

/**
 * Reads the file every `intervalMs` and hands changed keys to `onKeys`.
 * @returns stops following
 */
export function followMeshKeyFile(options: MeshKeyFileOptions): () => void {
  let last = options.initial.trim();
  let failing = false;
  const timer = setInterval(async () => {
    let text: string;
    try {
      text = (await Deno.readTextFile(options.path)).trim();
    } catch (err) {
      if (!failing) {
        options.logger.error("cannot read the mesh key file; keeping the keys in use", {
          path: options.path,
          error: (err as Error).message,
        });
      }
      failing = true;
      return;
    }
    failing = false;
    if (text === last) return;
    last = text;
    const keys = parseMeshKeys(text);
    if (typeof keys === "string") {
      options.logger.error("the mesh key file holds bad keys; keeping the keys in use", {
        path: options.path,
        error: keys,
      });
      return;
    }
    const ring = deriveKeyring(keys);
    options.onKeys(ring);
    options.logger.info("mesh keys reloaded", { keys: ring.keys.map((k) => k.fingerprint) });
  }, options.intervalMs ?? 1000);
  Deno.unrefTimer(timer);
  return () => clearInterval(timer);
}
