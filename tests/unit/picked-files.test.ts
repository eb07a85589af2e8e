import { describe, expect, it } from 'vitest';
import { pastedName } from '../../web/src/lib/picked-files.js';

describe('pastedName', () => {
  const at = new Date(2026, 11, 2, 9, 5, 7);
  it('dates the generic names a clipboard gives, and keeps real ones', () => {
    expect(pastedName(new File(['x'], 'image.png', { type: 'image/png' }), at)).toBe('Pasted 2026-12-02 09.05.07.png');
    expect(pastedName(new File(['x'], 'image.JPEG', { type: 'image/jpeg' }), at)).toBe('Pasted 2026-12-02 09.05.07.JPEG');
    expect(pastedName(new File(['x'], '', { type: 'image/jpeg' }), at)).toBe('Pasted 2026-12-02 09.05.07.jpg');
    expect(pastedName(new File(['x'], 'holiday.png'), at)).toBe('holiday.png');
  });
});
