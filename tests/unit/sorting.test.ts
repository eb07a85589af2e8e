import { describe, expect, it } from 'vitest';
import { compareNames, kindOf, sortEntries } from '../../web/src/lib/sorting.js';

const file = (name: string, size = 0, modifiedAt = 0) => ({ kind: 'file' as const, name, size, modifiedAt });
const folder = (name: string) => ({ kind: 'folder' as const, name });

describe('library order and filters', () => {
  it('sorts names naturally: note2 before note10, case aside', () => {
    const names = ['note10.txt', 'Note2.txt', 'note1.txt', 'note2b.txt', 'alpha.txt'];
    expect([...names].sort(compareNames)).toEqual(['alpha.txt', 'note1.txt', 'Note2.txt', 'note2b.txt', 'note10.txt']);
  });

  it('puts folders first, then files by the chosen key, either way, ties by name', () => {
    const entries = [file('b.txt', 30, 3), folder('zeta'), file('a.txt', 30, 1), file('c.pdf', 10, 2), folder('Alpha')];
    expect(sortEntries(entries, 'name').map((e) => e.name)).toEqual(['Alpha', 'zeta', 'a.txt', 'b.txt', 'c.pdf']);
    expect(sortEntries(entries, 'name', true).map((e) => e.name)).toEqual(['zeta', 'Alpha', 'c.pdf', 'b.txt', 'a.txt']);
    expect(sortEntries(entries, 'size').map((e) => e.name)).toEqual(['Alpha', 'zeta', 'c.pdf', 'a.txt', 'b.txt']);
    expect(sortEntries(entries, 'size', true).map((e) => e.name)).toEqual(['Alpha', 'zeta', 'a.txt', 'b.txt', 'c.pdf']);
    expect(sortEntries(entries, 'modified', true).map((e) => e.name)).toEqual(['Alpha', 'zeta', 'b.txt', 'c.pdf', 'a.txt']);
    expect(sortEntries(entries, 'type').map((e) => e.name)).toEqual(['Alpha', 'zeta', 'c.pdf', 'a.txt', 'b.txt']);
  });

  it('tells kinds of file apart by extension', () => {
    expect(kindOf(file('IMG_0001.JPG'))).toBe('image');
    expect(kindOf(file('clip.mov'))).toBe('video');
    expect(kindOf(file('song.flac'))).toBe('audio');
    expect(kindOf(file('report.pdf'))).toBe('document');
    expect(kindOf(file('backup.tar.gz'))).toBe('archive');
    expect(kindOf(file('Makefile'))).toBe('other');
    expect(kindOf(file('.bashrc'))).toBe('other');
    expect(kindOf(folder('photos.jpg'))).toBe('folder');
  });
});
