/** Where a checkout keeps its transpiled sources (see transpiled-sources.mjs), under the checkout. */
export declare const CACHE_DIR: string;
/** cli/main.js of the sources as they are now, transpiled once into the cache; undefined when that cannot be done. */
export declare function transpiledCli(root: string, fingerprint?: string): Promise<string | undefined>;
/** Copies the non-TypeScript files the modules read at run time into `out`, beside their modules. */
export declare function copyRuntimeFiles(root: string, out: string, files?: string[]): void;
