import { checkFinite, InvalidArgumentError, MAX_ID_BYTES, checkIdList } from '@recsys/core';

describe('checkIdList', () => {
  const fails = (ids: string[]): string => {
    try {
      checkIdList('entity_ids', ids, 10);
    } catch (err) {
      expect(err).toBeInstanceOf(InvalidArgumentError);
      return (err as Error).message;
    }
    return 'passed';
  };

  it('accepts ids up to MAX_ID_BYTES in UTF-8, whatever the characters', () => {
    expect(fails(['a'.repeat(MAX_ID_BYTES), '€'.repeat(42), '😀'.repeat(32), 'x'])).toBe('passed');
  });

  it('names the first bad entry: empty, too many bytes (ASCII, 3-byte and 4-byte characters)', () => {
    expect(fails(['ok', ''])).toMatch(/entity_ids\[1\].*must not be empty/);
    expect(fails(['a'.repeat(MAX_ID_BYTES + 1)])).toMatch(/entity_ids\[0\].*at most 128 bytes, got 129/);
    expect(fails(['ok', 'ok', '€'.repeat(43)])).toMatch(/entity_ids\[2\].*got 129/);
    expect(fails(['😀'.repeat(33)])).toMatch(/entity_ids\[0\].*got 132/);
  });

  it('refuses more entries than the limit', () => {
    expect(fails(Array.from({ length: 11 }, (_, i) => `i${i}`))).toMatch(/at most 10 entries allowed, got 11/);
  });
});

describe('checkFinite', () => {
  it('names the first bad entry, building a lazy field name only for a bad value', () => {
    const name = jest.fn(() => 'item_features.columns["pop"].values');
    checkFinite(name, Float32Array.of(1, 2, 3));
    expect(name).not.toHaveBeenCalled();
    expect(() => checkFinite(name, [1, Infinity, NaN])).toThrow('item_features.columns["pop"].values[1]: must be a finite number, got Infinity');
    expect(() => checkFinite('scores', [0, NaN])).toThrow('scores[1]: must be a finite number, got NaN');
    expect(() => checkFinite('scores', [NaN, -Infinity], true)).toThrow(/^scores\[1\]: must be a finite number \(or NaN/);
  });
});
