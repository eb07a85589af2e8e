import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ERRORS } from '../../relay/protocol/index.js';
import { ROOT } from '../helpers/relay.js';

describe('docs/errors.md', () => {
  const doc = readFileSync(path.join(ROOT, 'docs/errors.md'), 'utf8');
  for (const code of Object.keys(ERRORS)) {
    it(`documents ${code}`, () => {
      expect(doc).toMatch(new RegExp(`^\\| \`${code}\` \\|`, 'm'));
    });
  }
  it('documents no code that does not exist', () => {
    const documented = [...doc.matchAll(/^\| `([A-Z_]+)` \|/gm)].map((m) => m[1]);
    expect(documented.filter((c) => !(c in ERRORS))).toEqual([]);
  });
});
