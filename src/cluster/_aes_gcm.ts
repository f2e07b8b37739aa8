/**
 * AES-256-GCM for sealed mesh packets behind one small contract, {@linkcode Gcm}, with two backends:
 *
 * - `"openssl"`: libcrypto (OpenSSL 3) through `Deno.dlopen`, EVP AES-GCM with AES-NI: about 0.6 µs to seal
 *   1200 bytes (0.3 ns a byte plus five FFI calls: IV, AAD, payload, final, tag). Each key gets one encryption
 *   and one decryption context, keyed once; a packet allocates nothing.
 * - `"node:crypto"`: `createCipheriv` / `createDecipheriv`, a cipher object per packet (about 4 µs fixed plus
 *   5 ns a byte in Deno). Always available, and what runs where libcrypto does not (no `libcrypto.so*`, macOS).
 *
 * {@linkcode defaultGcm} picks once per process: OpenSSL when FFI is granted (`--allow-ffi`, as `deno task start`
 * and the compiled binary do), `libcrypto.so.3` (else `libcrypto.so`) loads, and a self-test sealing and opening
 * against node:crypto agrees byte for byte; node:crypto otherwise. It never prompts for the FFI permission: a
 * relay started without it (or with `--allow-ffi` limited to paths) quietly uses node:crypto.
 * {@linkcode gcmBackendName} says which one runs, without logging.
 *
 * Both backends give the same bytes: the nonce is 12 bytes, the tag 16, the ciphertext as long as the plaintext.
 * The native contexts of a key are freed when the key's {@linkcode GcmKey} is garbage-collected (a
 * `FinalizationRegistry`), which happens once the `KeyObject` it was made for is gone, e.g. after a keyring swap.
 * @module
 */
import type { KeyObject } from "node:crypto";
import { createCipheriv, createDecipheriv, createSecretKey } from "node:crypto";

/** Which implementation seals and opens. */
export type GcmBackendName = "openssl" | "node:crypto";

/** Bytes of an AES-256 key. */
export const GCM_KEY_SIZE = 32;
/** Bytes of the nonce (the GCM IV). */
export const GCM_NONCE_SIZE = 12;
/** Bytes of the authentication tag. */
export const GCM_TAG_SIZE = 16;

/** One AES-256 key, ready to seal and open with one backend. */
export interface GcmKey {
  /**
   * Encrypts `plaintext` into `out` and writes the tag of `aad` and the ciphertext into `tag`.
   * With `plaintext` null or empty it only authenticates `aad` (GMAC).
   * @param nonce 12 bytes, never reused under this key
   * @param aad additional authenticated data (may overlap `out` when `plaintext` is empty)
   * @param plaintext bytes to encrypt, or null
   * @param out receives the ciphertext: at least as long as `plaintext`; may be `plaintext` itself (in place), never
   *   a part of it at another offset
   * @param tag receives the 16-byte tag
   */
  seal(
    nonce: Uint8Array,
    aad: Uint8Array,
    plaintext: Uint8Array | null,
    out: Uint8Array,
    tag: Uint8Array,
  ): void;
  /**
   * Decrypts `ciphertext` into `out` and verifies `tag` over `aad` and the ciphertext.
   * @param nonce 12 bytes
   * @param aad additional authenticated data
   * @param ciphertext bytes to decrypt, or null when only `aad` is authenticated
   * @param tag the 16-byte tag
   * @param out receives the plaintext (at least as long as `ciphertext`); not to be used when this returns false
   * @returns whether the tag verifies
   */
  open(
    nonce: Uint8Array,
    aad: Uint8Array,
    ciphertext: Uint8Array | null,
    tag: Uint8Array,
    out: Uint8Array,
  ): boolean;
}

/** An AES-256-GCM implementation. */
export interface Gcm {
  /** Which implementation this is. */
  readonly name: GcmBackendName;
  /**
   * The prepared key for `key` (a 32-byte secret key), the same object for the same `key`.
   * @returns a key whose native state, if any, is freed once neither it nor `key` is reachable
   */
  key(key: KeyObject): GcmKey;
}

// ---------------------------------------------------------------------------------------------------------------
// node:crypto

const NODE_GCM: Gcm = {
  name: "node:crypto",
  key: cachedKeys(nodeKey),
};

function nodeKey(key: KeyObject): GcmKey {
  checkKey(key);
  return {
    seal(nonce, aad, plaintext, out, tag) {
      checkSizes(nonce, tag, plaintext, out);
      const cipher = createCipheriv("aes-256-gcm", key, nonce);
      cipher.setAAD(aad);
      if (plaintext && plaintext.length > 0) out.set(cipher.update(plaintext));
      cipher.final();
      tag.set(cipher.getAuthTag());
    },
    open(nonce, aad, ciphertext, tag, out) {
      checkSizes(nonce, tag, ciphertext, out);
      try {
        const decipher = createDecipheriv("aes-256-gcm", key, nonce);
        decipher.setAAD(aad);
        decipher.setAuthTag(tag);
        if (ciphertext && ciphertext.length > 0) out.set(decipher.update(ciphertext));
        decipher.final();
        return true;
      } catch {
        return false; // the tag does not verify
      }
    },
  };
}

/** The node:crypto backend (always available). */
export function nodeGcm(): Gcm {
  return NODE_GCM;
}

// ---------------------------------------------------------------------------------------------------------------
// OpenSSL libcrypto through FFI

/** Names tried in order with `Deno.dlopen`. */
const LIBCRYPTO_NAMES = ["libcrypto.so.3", "libcrypto.so"];
const EVP_CTRL_GCM_GET_TAG = 0x10;
const EVP_CTRL_GCM_SET_TAG = 0x11;

// Several views of one C function: "pointer" where the argument is always NULL (no per-call conversion), "buffer"
// where a Uint8Array is passed.
const SYMBOLS = {
  EVP_CIPHER_CTX_new: { parameters: [], result: "pointer" },
  EVP_CIPHER_CTX_free: { parameters: ["pointer"], result: "void" },
  EVP_aes_256_gcm: { parameters: [], result: "pointer" },
  /** EVP_EncryptInit_ex(ctx, cipher, NULL, key, NULL) */
  encryptInitKey: {
    name: "EVP_EncryptInit_ex",
    parameters: ["pointer", "pointer", "pointer", "buffer", "pointer"],
    result: "i32",
  },
  /** EVP_EncryptInit_ex(ctx, NULL, NULL, NULL, iv) */
  encryptInitIv: {
    name: "EVP_EncryptInit_ex",
    parameters: ["pointer", "pointer", "pointer", "pointer", "buffer"],
    result: "i32",
  },
  /** EVP_EncryptUpdate(ctx, NULL, &outl, aad, aadl) */
  encryptAad: {
    name: "EVP_EncryptUpdate",
    parameters: ["pointer", "pointer", "buffer", "buffer", "i32"],
    result: "i32",
  },
  EVP_EncryptUpdate: { parameters: ["pointer", "buffer", "buffer", "buffer", "i32"], result: "i32" },
  EVP_EncryptFinal_ex: { parameters: ["pointer", "buffer", "buffer"], result: "i32" },
  decryptInitKey: {
    name: "EVP_DecryptInit_ex",
    parameters: ["pointer", "pointer", "pointer", "buffer", "pointer"],
    result: "i32",
  },
  decryptInitIv: {
    name: "EVP_DecryptInit_ex",
    parameters: ["pointer", "pointer", "pointer", "pointer", "buffer"],
    result: "i32",
  },
  decryptAad: {
    name: "EVP_DecryptUpdate",
    parameters: ["pointer", "pointer", "buffer", "buffer", "i32"],
    result: "i32",
  },
  EVP_DecryptUpdate: { parameters: ["pointer", "buffer", "buffer", "buffer", "i32"], result: "i32" },
  EVP_DecryptFinal_ex: { parameters: ["pointer", "buffer", "buffer"], result: "i32" },
  EVP_CIPHER_CTX_ctrl: { parameters: ["pointer", "i32", "i32", "buffer"], result: "i32" },
} as const;

type LibCrypto = Deno.DynamicLibrary<typeof SYMBOLS>["symbols"];

let openSsl: Gcm | string | undefined;

/**
 * The OpenSSL backend, loaded on the first call.
 * @returns the backend, or a sentence saying why it is not available (no FFI permission, no libcrypto, a failed
 *   self-test)
 */
export function openSslGcm(): Gcm | string {
  openSsl ??= loadOpenSsl();
  return openSsl;
}

function loadOpenSsl(): Gcm | string {
  if (typeof Deno === "undefined" || typeof Deno.dlopen !== "function") return "Deno.dlopen is not available";
  try {
    // Never prompt: only a plain --allow-ffi (or -A) turns OpenSSL on.
    const state = Deno.permissions.querySync({ name: "ffi" }).state;
    if (state !== "granted") return `the FFI permission is not granted (${state})`;
  } catch (e) {
    return `the FFI permission could not be queried: ${errorText(e)}`;
  }
  const failures: string[] = [];
  for (const name of LIBCRYPTO_NAMES) {
    let lib: Deno.DynamicLibrary<typeof SYMBOLS>;
    try {
      lib = Deno.dlopen(name, SYMBOLS);
    } catch (e) {
      failures.push(`"${name}": ${errorText(e)}`);
      continue;
    }
    try {
      const gcm = openSslBackend(lib.symbols);
      const mismatch = selfTest(gcm);
      if (mismatch === null) return gcm;
      failures.push(`"${name}": self-test failed: ${mismatch}`);
    } catch (e) {
      failures.push(`"${name}": ${errorText(e)}`);
    }
    // Not closed: contexts made by the self-test are freed through this library when they are collected.
  }
  return `libcrypto could not be used (${failures.join("; ")})`;
}

function openSslBackend(c: LibCrypto): Gcm {
  const cipher = c.EVP_aes_256_gcm();
  if (cipher === null) throw new Error("EVP_aes_256_gcm() returned NULL");
  // Shared scratch: calls are synchronous on this thread and never interleave.
  const outLen = new Int32Array(1);
  const scratch = new Uint8Array(32); // EVP_*Final_ex writes nothing for GCM; a valid buffer all the same
  const freed = new FinalizationRegistry<Deno.PointerObject[]>((ctxs) => {
    for (const ctx of ctxs) c.EVP_CIPHER_CTX_free(ctx);
  });

  function newContext(init: (ctx: Deno.PointerObject) => number, what: string): Deno.PointerObject {
    const ctx = c.EVP_CIPHER_CTX_new();
    if (ctx === null) throw new Error("EVP_CIPHER_CTX_new() returned NULL");
    if (init(ctx) !== 1) {
      c.EVP_CIPHER_CTX_free(ctx);
      throw new Error(`${what} failed to set the AES-256-GCM key`);
    }
    return ctx;
  }

  function key(key: KeyObject): GcmKey {
    checkKey(key);
    const raw = key.export();
    const enc = newContext((ctx) => c.encryptInitKey(ctx, cipher, null, raw, null), "EVP_EncryptInit_ex");
    let dec: Deno.PointerObject;
    try {
      dec = newContext((ctx) => c.decryptInitKey(ctx, cipher, null, raw, null), "EVP_DecryptInit_ex");
    } catch (e) {
      c.EVP_CIPHER_CTX_free(enc);
      throw e;
    } finally {
      raw.fill(0);
    }
    const prepared: GcmKey = {
      seal(nonce, aad, plaintext, out, tag) {
        checkSizes(nonce, tag, plaintext, out);
        check(c.encryptInitIv(enc, null, null, null, nonce), "EVP_EncryptInit_ex (nonce)");
        if (aad.length > 0) {
          check(c.encryptAad(enc, null, outLen, aad, aad.length), "EVP_EncryptUpdate (AAD)");
        }
        if (plaintext && plaintext.length > 0) {
          check(c.EVP_EncryptUpdate(enc, out, outLen, plaintext, plaintext.length), "EVP_EncryptUpdate");
          checkLength(outLen[0]!, plaintext.length, "EVP_EncryptUpdate");
        }
        check(c.EVP_EncryptFinal_ex(enc, scratch, outLen), "EVP_EncryptFinal_ex");
        check(c.EVP_CIPHER_CTX_ctrl(enc, EVP_CTRL_GCM_GET_TAG, GCM_TAG_SIZE, tag), "EVP_CTRL_GCM_GET_TAG");
      },
      open(nonce, aad, ciphertext, tag, out) {
        checkSizes(nonce, tag, ciphertext, out);
        check(c.decryptInitIv(dec, null, null, null, nonce), "EVP_DecryptInit_ex (nonce)");
        if (aad.length > 0) {
          check(c.decryptAad(dec, null, outLen, aad, aad.length), "EVP_DecryptUpdate (AAD)");
        }
        if (ciphertext && ciphertext.length > 0) {
          check(c.EVP_DecryptUpdate(dec, out, outLen, ciphertext, ciphertext.length), "EVP_DecryptUpdate");
          checkLength(outLen[0]!, ciphertext.length, "EVP_DecryptUpdate");
        }
        check(c.EVP_CIPHER_CTX_ctrl(dec, EVP_CTRL_GCM_SET_TAG, GCM_TAG_SIZE, tag), "EVP_CTRL_GCM_SET_TAG");
        return c.EVP_DecryptFinal_ex(dec, scratch, outLen) > 0; // <= 0: the tag does not verify
      },
    };
    freed.register(prepared, [enc, dec]);
    return prepared;
  }

  return { name: "openssl", key: cachedKeys(key) };
}

/**
 * Seals and opens a fixed vector with `gcm` and with node:crypto, encrypted and authenticated only.
 * @returns null when both agree on every byte and refuse a bad tag, else what differs
 */
function selfTest(gcm: Gcm): string | null {
  const key = createSecretKey(new Uint8Array(GCM_KEY_SIZE).map((_, i) => i * 7 + 1));
  const nonce = new Uint8Array(GCM_NONCE_SIZE).map((_, i) => 0xa0 + i);
  const aad = new Uint8Array(20).map((_, i) => i);
  const plain = new Uint8Array(100).map((_, i) => (i * 13) & 0xff);
  const ours = gcm.key(key);
  const ref = NODE_GCM.key(key);
  for (const text of [plain, null]) {
    const n = text?.length ?? 0;
    const a = new Uint8Array(n + GCM_TAG_SIZE);
    const b = new Uint8Array(n + GCM_TAG_SIZE);
    ours.seal(nonce, aad, text, a, a.subarray(n));
    ref.seal(nonce, aad, text, b, b.subarray(n));
    if (a.some((x, i) => x !== b[i])) return `${text ? "encrypted" : "authenticated"} output differs`;
    const back = new Uint8Array(n);
    if (!ours.open(nonce, aad, a.subarray(0, n), a.subarray(n), back)) return "a good tag was refused";
    if (text && back.some((x, i) => x !== text[i])) return "decryption differs";
    a[n] = a[n]! ^ 1;
    if (ours.open(nonce, aad, a.subarray(0, n), a.subarray(n), back)) return "a bad tag was accepted";
  }
  return null;
}

// ---------------------------------------------------------------------------------------------------------------
// Choice

let chosen: Gcm | undefined;

/** The backend of this process: OpenSSL when it can be loaded, else node:crypto (chosen on the first call). */
export function defaultGcm(): Gcm {
  if (!chosen) {
    const ssl = openSslGcm();
    chosen = typeof ssl === "string" ? NODE_GCM : ssl;
  }
  return chosen;
}

/**
 * Which backend seals and opens mesh packets in this process: `"openssl"` or `"node:crypto"`.
 * @example
 * ```ts
 * logger.info(`mesh packets sealed with ${gcmBackendName()}`);
 * ```
 */
export function gcmBackendName(): GcmBackendName {
  return defaultGcm().name;
}

// ---------------------------------------------------------------------------------------------------------------
// Helpers

function cachedKeys(make: (key: KeyObject) => GcmKey): (key: KeyObject) => GcmKey {
  const keys = new WeakMap<KeyObject, GcmKey>();
  return (key) => {
    let prepared = keys.get(key);
    if (!prepared) {
      prepared = make(key);
      keys.set(key, prepared);
    }
    return prepared;
  };
}

function checkKey(key: KeyObject): void {
  if (key.type !== "secret" || key.symmetricKeySize !== GCM_KEY_SIZE) {
    throw new RangeError(`an AES-256-GCM key has ${GCM_KEY_SIZE} bytes, not ${key.symmetricKeySize}`);
  }
}

/** The native code trusts these lengths: a short buffer would be read or written past its end. */
function checkSizes(nonce: Uint8Array, tag: Uint8Array, input: Uint8Array | null, out: Uint8Array): void {
  if (nonce.length !== GCM_NONCE_SIZE) {
    throw new RangeError(`a GCM nonce has ${GCM_NONCE_SIZE} bytes, not ${nonce.length}`);
  }
  if (tag.length !== GCM_TAG_SIZE) {
    throw new RangeError(`a GCM tag has ${GCM_TAG_SIZE} bytes, not ${tag.length}`);
  }
  if (input && out.length < input.length) {
    throw new RangeError(`an output of ${out.length} bytes is shorter than the input of ${input.length}`);
  }
}

function check(result: number, call: string): void {
  if (result !== 1) throw new Error(`OpenSSL ${call} failed (returned ${result})`);
}

function checkLength(written: number, expected: number, call: string): void {
  if (written !== expected) throw new Error(`OpenSSL ${call} wrote ${written} bytes, not ${expected}`);
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
