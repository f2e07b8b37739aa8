/**
 * Configuration: schema and loader.
 * @module
 */
export * from "./schema.ts";
export * from "./load.ts";
