/**
 * What the unit tests of RTSP authentication share (src/rtsp/headers/www_authenticate_test.ts,
 * authorization_test.ts, src/rtsp/auth/*_test.ts): the example of RFC 7616 §3.9.1, the list of both schemes,
 * and the check of a 400 refusal.
 * @module
 */
import assert from "node:assert/strict";
import { RtspProtocolError } from "../../src/rtsp/errors.ts";
import type { AuthSchemeName } from "../../src/rtsp/auth/schemes.ts";

/** Both schemes allowed. */
export const ALL_SCHEMES: readonly AuthSchemeName[] = ["digest", "basic"];

const NONCE = "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v";
const OPAQUE = "FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS";
const challenge = (algorithm: string): string =>
  `Digest realm="http-auth@example.org", qop="auth, auth-int", algorithm=${algorithm}, nonce="${NONCE}", ` +
  `opaque="${OPAQUE}"`;

/** The example of RFC 7616 §3.9.1: user Mufasa, password "Circle of Life", `GET /dir/index.html`. */
export const RFC7616 = {
  realm: "http-auth@example.org",
  nonce: NONCE,
  opaque: OPAQUE,
  cnonce: "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ",
  /** The server's two `WWW-Authenticate` lines, SHA-256 first. */
  challenges: [challenge("SHA-256"), challenge("MD5")],
  /** The client's SHA-256 response (nc=00000001). */
  sha256Response: "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1",
} as const;

/**
 * Asserts that `fn` throws an {@linkcode RtspProtocolError} with status 400 whose message matches.
 * @example assertProtocolError(() => parseChallenges(['Digest realm="r"']), /without realm or nonce/)
 */
export function assertProtocolError(fn: () => unknown, message: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof RtspProtocolError);
    assert.equal(e.status, 400);
    assert.match(e.message, message);
    return true;
  });
}
