/**
 * Remote paths as people type them: `me:reports/q1.pdf` is in My files, `team:reports`
 * in the shared folder named "team", and a path without a space (`reports/q1.pdf`) is in
 * My files. Only a prefix before the first `/` can name a space, so `me:a:b.txt` names
 * the file `a:b.txt` of My files.
 */
import { FerryError, type SpaceInfo } from '../protocol/index.js';
import type { FerryClient } from './connection.js';

/** A remote path split into its space name (`undefined`: My files) and path. */
export function splitRemote(text: string): { spaceName?: string; path: string } {
  const colon = text.indexOf(':');
  const slash = text.indexOf('/');
  if (colon <= 0 || (slash >= 0 && slash < colon)) return { path: text };
  const name = text.slice(0, colon);
  const path = text.slice(colon + 1).replace(/^\/+/, '');
  return name.toLowerCase() === 'me' ? { path } : { spaceName: name, path };
}

/** How a space is written in front of a path: `me:` or `NAME:`. */
export function spacePrefix(space: SpaceInfo): string {
  return space.kind === 'home' ? 'me:' : `${space.name}:`;
}

/** Resolves space names against the spaces the signed-in user can see (asked once per client). */
export class RemotePaths {
  private spaces?: Promise<SpaceInfo[]>;

  constructor(private readonly client: FerryClient) {}

  list(): Promise<SpaceInfo[]> {
    this.spaces ??= this.client.request('spaces', {}).then((r) => r.spaces);
    return this.spaces;
  }

  /** The space id (`undefined` for My files), the path, and how to print the pair. */
  async resolve(text: string): Promise<{ space?: number; path: string; info: SpaceInfo }> {
    const { spaceName, path } = splitRemote(text);
    const spaces = await this.list();
    if (spaceName === undefined) return { space: undefined, path, info: spaces.find((s) => s.kind === 'home')! };
    const info = spaces.find((s) => s.kind === 'shared' && s.name.toLowerCase() === spaceName.toLowerCase());
    if (!info) {
      const names = spaces.filter((s) => s.kind === 'shared').map((s) => s.name);
      throw new FerryError('NOT_FOUND', `No shared folder "${spaceName}" of yours${names.length ? ` (yours: ${names.join(', ')})` : ''}.`);
    }
    return { space: info.id, path, info };
  }

  /** `me:path` or `NAME:path` for a space id from a reply. */
  async label(space: number, path: string): Promise<string> {
    const info = (await this.list()).find((s) => s.id === space);
    return `${info ? spacePrefix(info) : `#${space}:`}${path}`;
  }
}
