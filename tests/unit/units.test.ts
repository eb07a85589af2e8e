import { describe, expect, it } from 'vitest';
import { formatBytes } from '../../relay/protocol/index.js';

describe('sizes in people\'s units', () => {
  it('writes bytes, then binary units with one decimal under 10', () => {
    expect(formatBytes(0)).toBe('0 B');
    expect(formatBytes(1023)).toBe('1023 B');
    expect(formatBytes(3000)).toBe('2.9 KiB');
    expect(formatBytes(12_000_000)).toBe('11 MiB');
    expect(formatBytes(5 * 2 ** 40)).toBe('5.0 TiB');
    expect(formatBytes(3000 * 2 ** 40)).toBe('3000 TiB');
  });
});
