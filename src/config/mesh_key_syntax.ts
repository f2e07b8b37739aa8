/**
 * The syntax of mesh keys as the config reads them (`--mesh-key`, `--mesh-key-file`, `MSM_MESH_KEY`): one key per
 * line, blank lines and `#` comments ignored, a bounded count of keys long enough to resist a dictionary. What the
 * keys are used for lives in the mesh (`cluster/mesh_keys.ts`); the config only checks their shape.
 * @module
 */

/** Fewest characters of a key: a short secret would fall to a dictionary. */
export const MESH_KEY_MIN_LENGTH = 16;
/** Most keys active at once (the current one and the ones being rotated out or in). */
export const MESH_KEYS_MAX = 4;

/**
 * Reads the keys of a key file or flag value.
 * @returns the keys in order, or a sentence saying what is wrong (no key, a key too short, too many)
 */
export function parseMeshKeys(text: string): string[] | string {
  const keys = text.split(/\r?\n/).map((l) => l.trim()).filter((l) => l !== "" && !l.startsWith("#"));
  if (keys.length === 0) return "the mesh key is empty";
  if (keys.length > MESH_KEYS_MAX) {
    return `${keys.length} mesh keys given; at most ${MESH_KEYS_MAX} may be active`;
  }
  const short = keys.findIndex((k) => k.length < MESH_KEY_MIN_LENGTH);
  if (short >= 0) {
    return `mesh key ${short + 1} has ${
      keys[short]!.length
    } characters; use at least ${MESH_KEY_MIN_LENGTH} ` +
      "(e.g. openssl rand -hex 32)";
  }
  return keys;
}
