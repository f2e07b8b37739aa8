/**
 * RTSP authentication in one import, for the relay's users of it: the two headers
 * (`WWW-Authenticate`, `Authorization`: {@link ../headers/www_authenticate.ts}, {@link ../headers/authorization.ts}),
 * the Digest computation ({@link ./digest.ts}), the client's choice and answer ({@link ./answer.ts}) and the
 * server's check ({@link ./verify.ts}). Server nonces are `../digest_nonce.ts`. Re-exports only.
 * @module
 */
export {
  type Challenge,
  type DigestAlgorithm,
  formatChallenge,
  parseChallenges,
} from "../headers/www_authenticate.ts";
export {
  type BasicCredentials,
  type Credentials,
  type DigestCredentials,
  formatAuthorization,
  parseAuthorization,
} from "../headers/authorization.ts";
export { type AuthSchemeName, schemeName } from "./schemes.ts";
export { digestResponse, type DigestResponseParams, formatNonceCount } from "./digest.ts";
export { answerChallenge, chooseChallenge, UnusableChallengesError } from "./answer.ts";
export {
  type NonceStatus,
  verifyAuthorization,
  type VerifyOptions,
  verifyPassword,
  type VerifyResult,
} from "./verify.ts";
