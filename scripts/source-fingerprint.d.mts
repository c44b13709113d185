/** The build's record of the sources it compiled (see source-fingerprint.mjs). */
export declare const FINGERPRINT_FILE: string;
/** Every source's path, size and modification time, hashed. */
export declare function sourceFingerprint(root: string): string;
/** 'dist' when dist/ was built from the sources as they are now, otherwise 'sources'. */
export declare function cliEntryFor(root: string, fingerprint?: string): 'dist' | 'sources';
/** Every file under SOURCE_FOLDERS, as absolute paths. */
export declare function sourceFiles(root: string): string[];
/** The folders `npm run build` compiles or copies. */
export declare const SOURCE_FOLDERS: readonly string[];
