import { describe, expect, it } from 'vitest';
import { checkFolder, checkPath, renamedPath } from '../../relay/protocol/index.js';

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
