/**
 * The client's side of RTSP authentication: choosing which challenge of a 401 to answer (Digest SHA-256, then
 * Digest MD5, then Basic, among the schemes the client allows) and writing the `Authorization` header that
 * answers it. Pure: the caller passes the client nonce and counts its requests.
 * @module
 */
import { RtspProtocolError } from "../errors.ts";
import { type DigestCredentials, formatAuthorization } from "../headers/authorization.ts";
import type { Challenge } from "../headers/www_authenticate.ts";
import { digestResponse, formatNonceCount } from "./digest.ts";
import { type AuthSchemeName, schemeName } from "./schemes.ts";

function offersAuth(c: Challenge): boolean {
  return c.qop?.some((q) => q.toLowerCase() === "auth") ?? false;
}

/** 0 for a challenge this client cannot answer, else higher for stronger ones. */
function strength(c: Challenge): number {
  if (c.scheme === "Basic") return 1;
  if (c.nonce === undefined) return 0;
  if (c.qop !== undefined && c.qop.length > 0 && !offersAuth(c)) return 0; // only auth-int offered
  return c.algorithm === "SHA-256" ? 3 : 2;
}

/** No challenge of a 401 could be answered with the schemes allowed. */
export class UnusableChallengesError extends RtspProtocolError {
  /** Schemes of the challenges offered that this client supports at all (e.g. `["Basic"]`), strongest first. */
  readonly offered: ReadonlyArray<Challenge["scheme"]>;
  /**
   * @param offered schemes offered and understood but not allowed
   * @param allowed schemes allowed
   */
  constructor(offered: ReadonlyArray<Challenge["scheme"]>, allowed: readonly AuthSchemeName[]) {
    super(
      offered.length === 0
        ? "No supported authentication challenge was offered"
        : `The server offers only ${offered.join(" and ")} authentication, which is not allowed (allowed: ${
          allowed.join(", ") || "none"
        })`,
    );
    this.name = "UnusableChallengesError";
    this.offered = offered;
  }
}

/**
 * Client side: the strongest usable challenge among those of allowed schemes: Digest SHA-256, then Digest MD5,
 * then Basic; the first of equals.
 * @param schemes the schemes the client may answer; Basic sends the password in clear, so allow it knowingly
 * @throws {UnusableChallengesError} when none is usable
 * @example chooseChallenge(parseChallenges(res.headers.getAll("WWW-Authenticate")), ["digest"])
 */
export function chooseChallenge(
  challenges: readonly Challenge[],
  schemes: readonly AuthSchemeName[],
): Challenge {
  let best: Challenge | undefined;
  const refused = new Set<Challenge["scheme"]>();
  for (const c of challenges) {
    if (strength(c) === 0) continue;
    if (!schemes.includes(schemeName(c.scheme))) {
      refused.add(c.scheme);
      continue;
    }
    if (strength(c) > (best === undefined ? 0 : strength(best))) best = c;
  }
  if (best === undefined) throw new UnusableChallengesError([...refused].sort(), schemes);
  return best;
}

/**
 * Client side: answers the strongest usable challenge of an allowed scheme ({@linkcode chooseChallenge}) and
 * returns the `Authorization` header value. Digest uses qop `auth` when offered (with `cnonce` and `nc`, written
 * as 8 hex digits), otherwise the RFC 2069 form; `algorithm` and `opaque` are echoed.
 * @param uri the Request-URI of the request being authorised
 * @param nc nonce count: 1 for the first request with this nonce, then 2, 3, ...
 * @param schemes the schemes the client may answer
 * @throws {UnusableChallengesError} when no challenge is usable
 * @example answerChallenge(challenges, "DESCRIBE", "rtsp://cam/live", "admin", "pw", cnonce, 1, ["digest"])
 */
export function answerChallenge(
  challenges: readonly Challenge[],
  method: string,
  uri: string,
  user: string,
  password: string,
  cnonce: string,
  nc: number,
  schemes: readonly AuthSchemeName[],
): string {
  const best = chooseChallenge(challenges, schemes);
  if (best.scheme === "Basic" || best.nonce === undefined) {
    return formatAuthorization({ scheme: "Basic", user, password });
  }
  const qop = offersAuth(best) ? "auth" : undefined;
  const creds: DigestCredentials = {
    scheme: "Digest",
    username: user,
    realm: best.realm,
    nonce: best.nonce,
    uri,
    response: digestResponse({
      algorithm: best.algorithm,
      username: user,
      realm: best.realm,
      password,
      method,
      uri,
      nonce: best.nonce,
      qop,
      nc,
      cnonce,
    }),
  };
  if (best.algorithm !== undefined) creds.algorithm = best.algorithm;
  if (qop !== undefined) {
    creds.qop = qop;
    creds.nc = formatNonceCount(nc);
    creds.cnonce = cnonce;
  }
  if (best.opaque !== undefined) creds.opaque = best.opaque;
  return formatAuthorization(creds);
}
