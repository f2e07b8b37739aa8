/**
 * The UDP forwarding data plane: {@linkcode createForwarder} and its two implementations.
 * @module
 */
export * from "./forwarder.ts";
export { FastForwarder, fastPathAvailable } from "./fast_udp.ts";
export { PortableForwarder } from "./portable_udp.ts";
