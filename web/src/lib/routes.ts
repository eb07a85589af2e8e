/**
 * The app's addresses: `/files/me/<path>` is a folder of My files, `/files/<name>/<path>`
 * one of the shared folder called name, `/trash/me` and `/trash/<name>` their trash. Each
 * segment is percent-encoded, so any name survives a round trip, and the address can be
 * bookmarked, shared with a member, and reloaded.
 */
import type { SpaceInfo } from '../../../relay/protocol';

/** The address of Administration (admins). */
export const ADMIN_PATH = '/admin';

export interface Route {
  /** `me`, or a shared folder's name. */
  space: string;
  view: 'files' | 'trash';
  folder: string;
}

/** How a space is written in an address. */
export function spaceKey(space: SpaceInfo | undefined): string {
  return !space || space.kind === 'home' ? 'me' : space.name;
}

export function routePath(route: Route): string {
  const segments = [route.space, ...(route.folder ? route.folder.split('/') : [])].map(encodeURIComponent);
  return `/${route.view}/${segments.join('/')}`;
}

/** The route of an address, or undefined when it is not one of the app's views. */
export function parseRoute(pathname: string): Route | undefined {
  const m = /^\/(files|trash)\/([^/]+)(?:\/(.*))?$/.exec(pathname);
  if (!m) return undefined;
  try {
    const folder = (m[3] ?? '').split('/').filter(Boolean).map(decodeURIComponent).join('/');
    return { view: m[1] as Route['view'], space: decodeURIComponent(m[2]), folder };
  } catch {
    return undefined; // a malformed escape
  }
}

/** The space a route names, among mine (a shared folder's name is case-insensitive). */
export function findSpace(spaces: SpaceInfo[], key: string): SpaceInfo | undefined {
  if (key === 'me') return spaces.find((s) => s.kind === 'home');
  return spaces.find((s) => s.kind === 'shared' && s.name.toLowerCase() === key.toLowerCase());
}
