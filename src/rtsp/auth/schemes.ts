/**
 * The authentication schemes as configured (`--rtsp-auth`, `--pull-auth`): the names a server offers and a
 * client accepts, shared by the client's answer ({@link ./answer.ts}) and the server's check
 * ({@link ./verify.ts}).
 * @module
 */
import type { Challenge } from "../headers/www_authenticate.ts";

/** Authentication schemes, as configured (`--rtsp-auth`, `--pull-auth`). */
export type AuthSchemeName = "digest" | "basic";

/**
 * The configured name of a scheme as written on the wire.
 * @example schemeName("Basic") // "basic"
 */
export function schemeName(scheme: Challenge["scheme"]): AuthSchemeName {
  return scheme === "Basic" ? "basic" : "digest";
}
