import { describe, expect, it } from 'vitest';
import { caseTwins, checkFolder, checkPath, compareCodePoints, conflictOriginal, conflictPath, displayName, hasBidiControls, portabilityProblems, renamedPath } from '../../relay/protocol/index.js';

describe('checkPath', () => {
  it('accepts ordinary relative paths and normalises them to NFC', () => {
    expect(checkPath('docs/report.pdf')).toBe('docs/report.pdf');
    expect(checkPath('Cafe\u0301.txt')).toBe('Café.txt');
    expect(checkPath('a"b<script>é😀.txt')).toBe('a"b<script>é😀.txt');
    expect(checkPath('.hidden/..dots..')).toBe('.hidden/..dots..');
  });

  const refused = ['', '/abs', 'C:/win', '../up', 'a/../b', 'a/./b', 'a//b', 'trailing/', 'nul\u0000', 'tab\tname', 'esc\u001b', 'c1\u0085', 'back\\slash', `${'x'.repeat(256)}`];
  for (const p of refused) {
    it(`refuses ${JSON.stringify(p).slice(0, 40)} with BAD_PATH`, () => {
      expect(() => checkPath(p)).toThrow(expect.objectContaining({ code: 'BAD_PATH' }));
    });
  }

  it('counts the 255-byte limit in UTF-8 bytes, not characters', () => {
    expect(checkPath('é'.repeat(127))).toHaveLength(127); // 254 bytes
    expect(() => checkPath('é'.repeat(128))).toThrow(expect.objectContaining({ code: 'BAD_PATH' }));
  });

  it('treats the empty folder as the root and strips a trailing slash', () => {
    expect(checkFolder('')).toBe('');
    expect(checkFolder('docs/')).toBe('docs');
  });
});

describe('renamedPath', () => {
  it('puts _vN before the extension', () => {
    expect(renamedPath('report.pdf', 2)).toBe('report_v2.pdf');
    expect(renamedPath('a/b/archive.tar.gz', 3)).toBe('a/b/archive_v3.tar.gz');
    expect(renamedPath('README', 2)).toBe('README_v2');
    expect(renamedPath('.env', 2)).toBe('.env_v2');
    expect(renamedPath('v1.2.final.docx', 2)).toBe('v1.2.final_v2.docx');
  });
});

describe('names that could mislead or collide', () => {
  it('refuses lone surrogates, which would turn two names into one', () => {
    for (const p of ['\uD800a.txt', '\uDC00a.txt', 'x/\uDBFF', 'a\uDFFFb']) expect(() => checkPath(p)).toThrow(expect.objectContaining({ code: 'BAD_PATH' }));
    expect(checkPath('😀/\u{10FFFF}x')).toBe('😀/\u{10FFFF}x');
  });

  it('shows every bidirectional control as a visible mark', () => {
    expect(displayName('invoice\u202Egpj.exe')).toBe('invoice[U+202E]gpj.exe');
    expect(displayName('a\u2066b\u2069c\u200F\u061C')).toBe('a[U+2066]b[U+2069]c[U+200F][U+061C]');
    expect(displayName('שלום.txt')).toBe('שלום.txt');
    expect(displayName('👩‍💻 notes.md')).toBe('👩‍💻 notes.md');
    expect(hasBidiControls('x\u202Dy')).toBe(true);
    expect(hasBidiControls('plain')).toBe(false);
  });

  it('tells which names Windows or macOS cannot hold as they are', () => {
    expect(portabilityProblems('CON').windows).toHaveLength(1);
    expect(portabilityProblems('nul.txt').windows).toHaveLength(1);
    expect(portabilityProblems('com1').windows).toHaveLength(1);
    expect(portabilityProblems('console.txt')).toEqual({ windows: [], macos: [] });
    expect(portabilityProblems('trailing. ').windows).toContain('ends with a dot or a space');
    expect(portabilityProblems('a:b').windows.length + portabilityProblems('a:b').macos.length).toBe(2);
    expect(portabilityProblems('what?.txt').windows).toHaveLength(1);
  });

  it('finds case-only twins', () => {
    expect(caseTwins(['Case.txt', 'case.txt', 'other', 'CASE.TXT'])).toEqual([['Case.txt', 'case.txt', 'CASE.TXT']]);
    expect(caseTwins(['a', 'b'])).toEqual([]);
  });
});

describe('conflictOriginal', () => {
  const at = new Date(2026, 11, 1, 14, 3);
  it('finds the file a conflict copy stands beside, for every name conflictPath makes', () => {
    for (const p of ['report.pdf', 'docs/archive.tar.gz', 'README', '.env', 'a/b/notes (draft).txt', 'weird (conflict from x).md', 'ü/名前.txt']) {
      for (const n of [1, 2, 5]) expect(conflictOriginal(conflictPath(p, 'laptop (work)', at, n))).toBe(p);
    }
  });
  it('is undefined for names that are not conflict copies', () => {
    for (const p of ['report.pdf', 'report (conflict from laptop).pdf', ' (conflict from x 2026-12-01 14.03).txt', 'a (conflict from x 2026-12-01 14.3).txt']) expect(conflictOriginal(p)).toBeUndefined();
  });
});

describe('compareCodePoints', () => {
  it('orders like UTF-8 bytes, astral characters after U+FFFF', () => {
    const names = ['b', 'a', '\u{1F600}', '\uFFFD', '\uE000', 'ab', 'a\u{10000}', 'a\uFFFF', ''];
    const byBytes = [...names].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)));
    expect([...names].sort(compareCodePoints)).toEqual(byBytes);
  });
});
