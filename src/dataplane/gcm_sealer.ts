/**
 * AES-GCM sealing and opening for the fast plane's Worker (AES-256, the mesh's) and WebRTC's SRTP (AES-128), on OpenSSL's libcrypto through FFI (the library the mesh's
 * sealing already uses, `src/cluster/_aes_gcm.ts`), called with plain memory addresses: the Worker builds
 * datagrams in its own arena and passes pointers it made once per arena position, so a seal allocates nothing (no
 * view, no pointer object). One encryption context per key, keyed once. Needs `--allow-ffi`.
 * @module
 */

const SYMBOLS = {
  EVP_CIPHER_CTX_new: { parameters: [], result: "pointer" },
  EVP_CIPHER_CTX_free: { parameters: ["pointer"], result: "void" },
  EVP_aes_256_gcm: { parameters: [], result: "pointer" },
  EVP_aes_128_gcm: { parameters: [], result: "pointer" },
  /** EVP_EncryptInit_ex(ctx, cipher, NULL, key, NULL) */
  encryptInitKey: {
    name: "EVP_EncryptInit_ex",
    parameters: ["pointer", "pointer", "pointer", "buffer", "pointer"],
    result: "i32",
  },
  /** EVP_EncryptInit_ex(ctx, NULL, NULL, NULL, iv) */
  EVP_EncryptInit_ex: { parameters: ["pointer", "pointer", "pointer", "pointer", "pointer"], result: "i32" },
  /** EVP_EncryptUpdate(ctx, out, &outl, in, inl) */
  EVP_EncryptUpdate: { parameters: ["pointer", "pointer", "pointer", "pointer", "i32"], result: "i32" },
  EVP_EncryptFinal_ex: { parameters: ["pointer", "pointer", "pointer"], result: "i32" },
  EVP_CIPHER_CTX_ctrl: { parameters: ["pointer", "i32", "i32", "pointer"], result: "i32" },
  /** EVP_DecryptInit_ex(ctx, cipher, NULL, key, NULL) */
  decryptInitKey: {
    name: "EVP_DecryptInit_ex",
    parameters: ["pointer", "pointer", "pointer", "buffer", "pointer"],
    result: "i32",
  },
  EVP_DecryptInit_ex: { parameters: ["pointer", "pointer", "pointer", "pointer", "pointer"], result: "i32" },
  EVP_DecryptUpdate: { parameters: ["pointer", "pointer", "pointer", "pointer", "i32"], result: "i32" },
  EVP_DecryptFinal_ex: { parameters: ["pointer", "pointer", "pointer"], result: "i32" },
} as const satisfies Deno.ForeignLibraryInterface;

const LIBCRYPTO_NAMES = ["libcrypto.so.3", "libcrypto.so"];
const EVP_CTRL_GCM_GET_TAG = 0x10;
const EVP_CTRL_GCM_SET_TAG = 0x11;
/** Bytes of a key, a nonce and a tag. */
export const GCM_SEALER_KEY_SIZE = 32;
export const GCM_SEALER_NONCE_SIZE = 12;
export const GCM_SEALER_TAG_SIZE = 16;

/** A pointer `offset` bytes into `data` (made once per position: a pointer object per call would allocate). */
export function pointerInto(data: ArrayBuffer | Uint8Array, offset: number): Deno.PointerObject {
  const base = Deno.UnsafePointer.value(Deno.UnsafePointer.of(data));
  return Deno.UnsafePointer.create(BigInt(base) + BigInt(offset))!;
}

/** One AES-256 key ready to seal (or, made with `decrypt`, to open), by pointer. */
export class GcmSealer {
  readonly #lib: Deno.DynamicLibrary<typeof SYMBOLS>;
  readonly #ctx: Deno.PointerObject;
  /** EVP's out-length and final-output scratch (GCM's final writes nothing). */
  readonly #scratch = new Uint8Array(64);
  readonly #outLen: Deno.PointerObject;
  readonly #final: Deno.PointerObject;
  #closed = false;

  /**
   * @param key 32 bytes (AES-256, the mesh's), or 16 (AES-128, SRTP's AEAD_AES_128_GCM); copied into OpenSSL's
   *   context, the caller may wipe it after
   * @throws Error when libcrypto cannot be loaded or refuses the key
   */
  constructor(key: Uint8Array, decrypt = false) {
    if (key.length !== GCM_SEALER_KEY_SIZE && key.length !== 16) {
      throw new RangeError(`an AES-256 key has 32 bytes (AES-128: 16), not ${key.length}`);
    }
    this.#lib = openLibCrypto();
    const c = this.#lib.symbols;
    const ctx = c.EVP_CIPHER_CTX_new();
    if (ctx === null) {
      throw new Error("EVP_CIPHER_CTX_new() returned NULL");
    }
    this.#ctx = ctx;
    const init = decrypt ? c.decryptInitKey : c.encryptInitKey;
    const cipher = key.length === 16 ? c.EVP_aes_128_gcm() : c.EVP_aes_256_gcm();
    if (init(ctx, cipher, null, key, null) !== 1) {
      this.close();
      throw new Error(`EVP_EncryptInit_ex failed to set the AES-${key.length * 8}-GCM key`);
    }
    this.#outLen = pointerInto(this.#scratch, 0);
    this.#final = pointerInto(this.#scratch, 8);
  }

  /**
   * Encrypts `length` bytes at `plain` into `out` (may be the same memory) and writes the tag of `aad` and the
   * ciphertext at `tag` (16 bytes); with `length` 0 it only authenticates `aad` (GMAC). The pointers point into
   * buffers the caller keeps alive, with room for what is read and written.
   * @returns false when OpenSSL reports a failure (nothing to send then)
   */
  seal(
    nonce: Deno.PointerObject,
    aad: Deno.PointerObject,
    aadLength: number,
    plain: Deno.PointerObject | null,
    out: Deno.PointerObject | null,
    length: number,
    tag: Deno.PointerObject,
  ): boolean {
    const c = this.#lib.symbols;
    const ctx = this.#ctx;
    const outLen = this.#outLen;
    if (c.EVP_EncryptInit_ex(ctx, null, null, null, nonce) !== 1) return false;
    if (aadLength > 0 && c.EVP_EncryptUpdate(ctx, null, outLen, aad, aadLength) !== 1) return false;
    if (length > 0 && c.EVP_EncryptUpdate(ctx, out, outLen, plain, length) !== 1) return false;
    if (c.EVP_EncryptFinal_ex(ctx, this.#final, outLen) !== 1) return false;
    return c.EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, GCM_SEALER_TAG_SIZE, tag) === 1;
  }

  /**
   * Decrypts `length` bytes at `cipher` into `out` and verifies the tag (16 bytes at `tag`) over `aad` and the
   * ciphertext; with `length` 0 it only verifies `aad`. Only on a key made with `decrypt`.
   * @returns whether the tag verifies (`out` is not to be used otherwise)
   */
  open(
    nonce: Deno.PointerObject,
    aad: Deno.PointerObject,
    aadLength: number,
    cipher: Deno.PointerObject | null,
    out: Deno.PointerObject | null,
    length: number,
    tag: Deno.PointerObject,
  ): boolean {
    const c = this.#lib.symbols;
    const ctx = this.#ctx;
    const outLen = this.#outLen;
    if (c.EVP_DecryptInit_ex(ctx, null, null, null, nonce) !== 1) return false;
    if (aadLength > 0 && c.EVP_DecryptUpdate(ctx, null, outLen, aad, aadLength) !== 1) return false;
    if (length > 0 && c.EVP_DecryptUpdate(ctx, out, outLen, cipher, length) !== 1) return false;
    if (c.EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, GCM_SEALER_TAG_SIZE, tag) !== 1) return false;
    return c.EVP_DecryptFinal_ex(ctx, this.#final, outLen) > 0;
  }

  /** Frees the context. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#lib.symbols.EVP_CIPHER_CTX_free(this.#ctx);
  }
}

/** libcrypto, loaded once per thread and kept: every key's context is made and freed through it. */
let libCrypto: Deno.DynamicLibrary<typeof SYMBOLS> | null = null;

function openLibCrypto(): Deno.DynamicLibrary<typeof SYMBOLS> {
  libCrypto ??= loadLibCrypto();
  return libCrypto;
}

function loadLibCrypto(): Deno.DynamicLibrary<typeof SYMBOLS> {
  const failures: string[] = [];
  for (const name of LIBCRYPTO_NAMES) {
    try {
      return Deno.dlopen(name, SYMBOLS);
    } catch (e) {
      failures.push(`"${name}": ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  throw new Error(`libcrypto could not be loaded (${failures.join("; ")})`);
}
