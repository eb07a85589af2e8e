/** Folder of the built web app. */
export const WEB_DIR: string;
/** Builds the web app when its sources are newer; resolves with its folder. */
export function ensureWebBuilt(): Promise<string>;
