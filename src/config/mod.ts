/**
 * Configuration: schema and loader.
 * @module
 */
export * from "./schema.ts";
export * from "./load.ts";
export * from "./users_file.ts";
