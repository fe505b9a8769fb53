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

  it('observe raises the term floor only; recorded chain positions refuse later older segments', () => {
    const gate = new EpochGate(7);
    expect(gate.highest).toBe(7);
    expect(gate.accepts(6, 10n)).toBe(true);
    gate.observe(5);
    expect(gate.highest).toBe(7);
    gate.observe(9);
    expect(gate.highest).toBe(9);
    expect(gate.accepts(8, 10n)).toBe(true);
    gate.record(8, 10n);
    expect(gate.accepts(8, 11n)).toBe(true);
    expect(gate.accepts(7, 11n)).toBe(false);
    expect(gate.accepts(7, 9n)).toBe(true);
  });

  it('judges segments by their place in the chain: a deposed term after the newer start is refused', () => {
    const gate = new EpochGate();
    gate.admit(1, 1n);
    gate.admit(1, 2n);
    gate.admit(3, 3n);
    gate.admit(3, 4n);
    expect(gate.highest).toBe(3);
    // A deposed leader's segment written after epoch 3 started.
    let caught: unknown;
    try {
      gate.admit(1, 5n);
    } catch (err) {
      caught = err;
    }
    expect(isCoordinatorError(caught, 'HADB_CORE_STALE_EPOCH')).toBe(true);
    expect(String(caught)).toMatch(/segment 5 of epoch 1 refused: epoch 3 started at segment 3/);
    expect(gate.accepts(2, 3n)).toBe(false);
    // The local copy is rebuilt from an older snapshot: epoch 1 history before seq 3 is applied again.
    gate.record(1, 1n);
    gate.admit(1, 2n);
    gate.admit(3, 3n);
    gate.admit(3, 5n);
    expect(gate.highest).toBe(3);
  });

  it('a newer epoch seen before its first segment (read-ahead, lease) does not refuse what precedes it', () => {
    const gate = new EpochGate();
    gate.observe(4);
    gate.admit(4, 10n); // read ahead, not applied
    gate.admit(1, 7n);
    gate.admit(1, 8n);
    gate.admit(2, 9n);
    expect(gate.accepts(1, 10n)).toBe(false);
    expect(gate.accepts(2, 10n)).toBe(false);
    // An earlier start of the same epoch moves its start down.
    gate.admit(2, 8n);
    expect(gate.accepts(1, 8n)).toBe(false);
  });

  it('rejects epochs that are not non-negative safe integers', () => {
    expect(() => new EpochGate(-1)).toThrow(/non-negative/);
    expect(() => new EpochGate().admit(1.5)).toThrow(/non-negative/);
    expect(() => new EpochGate().accepts(Number.MAX_SAFE_INTEGER + 1)).toThrow(/non-negative/);
  });
});
