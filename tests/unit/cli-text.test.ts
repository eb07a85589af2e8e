import { describe, expect, it } from 'vitest';
import { sentSummary } from '../../relay/cli/main.js';
import { fit } from '../../relay/cli/progress.js';

describe('what the CLI says', () => {
  it('says what an upload sent in words, never "383/375"', () => {
    expect(sentSummary(12, 12, 0)).toBe('12 chunks sent');
    expect(sentSummary(1, 1, 0)).toBe('1 chunk sent');
    expect(sentSummary(40, 3, 0)).toBe('40 chunks, 3 sent (the relay had the rest)');
    expect(sentSummary(40, 0, 0)).toBe('40 chunks, 0 sent (the relay had the rest)');
    expect(sentSummary(375, 383, 1)).toBe('375 chunks, 383 sent (8 again after 1 reconnect)');
    expect(sentSummary(10, 10, 2)).toBe('10 chunks, 10 sent, 2 reconnects');
  });

  it('fits a label to a width, keeping its end', () => {
    expect(fit('short', 10)).toBe('short');
    expect(fit('photos/2026/holiday/beach.jpg', 12)).toBe('phot…ach.jpg');
    expect([...fit('😀'.repeat(30), 9)]).toHaveLength(9);
  });
});
