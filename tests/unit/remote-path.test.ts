import { describe, expect, it } from 'vitest';
import { spacePrefix, splitRemote } from '../../relay/client/remote-path.js';

describe('remote paths', () => {
  it('reads SPACE:path, with me: and no prefix meaning My files', () => {
    expect(splitRemote('team:reports/q1.pdf')).toEqual({ spaceName: 'team', path: 'reports/q1.pdf' });
    expect(splitRemote('me:reports/q1.pdf')).toEqual({ path: 'reports/q1.pdf' });
    expect(splitRemote('ME:x')).toEqual({ path: 'x' });
    expect(splitRemote('reports/q1.pdf')).toEqual({ path: 'reports/q1.pdf' });
    expect(splitRemote('team:')).toEqual({ spaceName: 'team', path: '' });
    expect(splitRemote('team:/abs')).toEqual({ spaceName: 'team', path: 'abs' });
  });

  it('takes a colon after the first slash as part of the path, and me: to reach a name with a colon', () => {
    expect(splitRemote('notes/a:b.txt')).toEqual({ path: 'notes/a:b.txt' });
    expect(splitRemote('me:a:b.txt')).toEqual({ path: 'a:b.txt' });
    expect(splitRemote(':x')).toEqual({ path: ':x' });
  });

  it('writes a space as me: or NAME:', () => {
    expect(spacePrefix({ id: 1, kind: 'home', name: 'alice', access: 'edit' })).toBe('me:');
    expect(spacePrefix({ id: 2, kind: 'shared', name: 'team', access: 'view' })).toBe('team:');
  });
});
