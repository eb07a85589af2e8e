/** Package root. */
export const ROOT: string;
/** Entry module of the bundled relay/CLI. */
export const BUNDLE: string;
/** Rebuilds the bundle when a source is newer; resolves with its entry path. */
export function ensureBuilt(): Promise<string>;
