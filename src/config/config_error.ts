/**
 * The error of a configuration that cannot be used: a bad flag, variable, file or field. `main.ts` prints its
 * message and exits with status 2.
 * @module
 */

/** Thrown for an invalid configuration; the message names the field and the problem. */
export class ConfigError extends Error {
  /** @param message what is wrong, naming the flag, variable, file or field */
  constructor(message: string) {
    super(message);
    this.name = "ConfigError";
  }
}
