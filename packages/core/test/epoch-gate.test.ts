import { describe, expect, it } from 'vitest';
import { EpochGate } from '../src/epoch-gate.js';
import { isCoordinatorError } from '../src/errors.js';

describe('EpochGate', () => {
  it('accepts equal and higher epochs and refuses lower ones once a higher one was accepted', () => {
    const gate = new EpochGate();
    gate.admit(1);
    gate.admit(1);
    gate.admit(3);
    expect(gate.highest).toBe(3);
    expect(gate.accepts(2)).toBe(false);
    let caught: unknown;
    try {
      gate.admit(2);
    } catch (err) {
      caught = err;
    }
    expect(isCoordinatorError(caught, 'HADB_CORE_STALE_EPOCH')).toBe(true);
    expect(gate.highest).toBe(3);
    gate.admit(3);
    gate.admit(4);
    expect(gate.highest).toBe(4);
  });

  it('starts from local state and only moves up through observe', () => {
    const gate = new EpochGate(7);
    expect(gate.accepts(6)).toBe(false);
    gate.observe(5);
    expect(gate.highest).toBe(7);
    gate.observe(9);
    expect(gate.accepts(8)).toBe(false);
  });

  it('rejects epochs that are not non-negative safe integers', () => {
    expect(() => new EpochGate(-1)).toThrow(/non-negative/);
    expect(() => new EpochGate().admit(1.5)).toThrow(/non-negative/);
    expect(() => new EpochGate().accepts(Number.MAX_SAFE_INTEGER + 1)).toThrow(/non-negative/);
  });
});
