// The one numeric-flag parser of the CLI: defaults, bounds and the messages that name the flag.

import { describe, expect, it } from 'vitest';
import { flags, numberFlag } from '../src/cli/flags';

describe('numberFlag', () => {
  it('returns the default when the flag is absent and the value when it is given', () => {
    expect(numberFlag('lr', undefined, 5e-5)).toBe(5e-5);
    expect(numberFlag('lr', '1e-4', 5e-5, { min: 0 })).toBe(1e-4);
    expect(flags({ epochs: '3' })('epochs', 1, { integer: true, min: 1 })).toBe(3);
  });

  it('refuses what is out of bounds, not an integer, or not a number, naming the flag', () => {
    expect(() => numberFlag('epochs', '0', 1, { integer: true, min: 1 })).toThrow(
      /--epochs 0: expected an integer ≥ 1/,
    );
    expect(() => numberFlag('epochs', '1.5', 1, { integer: true, min: 1 })).toThrow(/expected an integer ≥ 1/);
    expect(() => numberFlag('lr', 'fast', 1)).toThrow(/--lr fast: expected a number/);
    expect(() => numberFlag('lr', '', 1)).toThrow(/--lr : expected a number/);
    const topP = { min: 0, max: 1, minExclusive: true };
    expect(() => numberFlag('top-p', '0', 1, topP)).toThrow(/--top-p 0: expected a number in \(0, 1\]/);
    expect(() => numberFlag('top-p', '1.2', 1, topP)).toThrow(/in \(0, 1\]/);
    expect(numberFlag('top-p', '1', 0.95, topP)).toBe(1);
  });
});
