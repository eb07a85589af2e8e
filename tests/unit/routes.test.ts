import { describe, expect, it } from 'vitest';
import { findSpace, parseRoute, routePath, spaceKey } from '../../web/src/lib/routes.js';

const spaces = [
  { id: 1, kind: 'home' as const, name: 'alice', access: 'edit' as const },
  { id: 7, kind: 'shared' as const, name: 'Design team', access: 'view' as const },
];

describe('app addresses', () => {
  it('writes and reads folders of My files and of shared folders, any name included', () => {
    for (const route of [
      { space: 'me', view: 'files' as const, folder: '' },
      { space: 'me', view: 'files' as const, folder: 'Holiday 2026/day 1' },
      { space: 'Design team', view: 'files' as const, folder: 'a%b/c?d#e/é😀' },
      { space: 'Design team', view: 'trash' as const, folder: '' },
    ]) {
      expect(parseRoute(routePath(route))).toEqual(route);
    }
    expect(routePath({ space: 'me', view: 'files', folder: 'Holiday 2026' })).toBe('/files/me/Holiday%202026');
  });

  it('ignores addresses that are not views, and malformed escapes', () => {
    expect(parseRoute('/')).toBeUndefined();
    expect(parseRoute('/s/abc')).toBeUndefined();
    expect(parseRoute('/files/%E0%A4%A')).toBeUndefined();
  });

  it('finds the space an address names', () => {
    expect(findSpace(spaces, 'me')?.id).toBe(1);
    expect(findSpace(spaces, 'design TEAM')?.id).toBe(7);
    expect(findSpace(spaces, 'alice')).toBeUndefined();
    expect(spaceKey(spaces[1])).toBe('Design team');
    expect(spaceKey(spaces[0])).toBe('me');
  });
});
