import { describe, expect, it } from 'vitest';
import { isHaError } from '../src/errors.js';
import { errorFromBody, isRetryableForward, statusFor } from '../src/forwarding/protocol.js';
import { HaError } from '../src/errors.js';
import { resolveHaNodeOptions } from '../src/options.js';

describe('forwarding protocol', () => {
  it('maps statuses to typed errors, the engine decoding its own 400 codes', () => {
    const engine = (code: string, message: string) =>
      code === 'ENGINE_BAD' ? new Error(`engine: ${message}`) : undefined;
    expect(isHaError(errorFromBody(401, {}, engine), 'HADB_HA_UNAUTHORIZED')).toBe(true);
    expect(
      isHaError(errorFromBody(421, { error: { code: 'HADB_HA_FENCED', message: 'x' } }, engine), 'HADB_HA_NOT_LEADER'),
    ).toBe(true);
    expect(
      isHaError(
        errorFromBody(503, { error: { code: 'HADB_HA_NOT_READY', message: 'x' } }, engine),
        'HADB_HA_NOT_READY',
      ),
    ).toBe(true);
    expect(errorFromBody(400, { error: { code: 'ENGINE_BAD', message: 'syntax' } }, engine).message).toBe(
      'engine: syntax',
    );
    expect(isHaError(errorFromBody(400, { error: { code: 'OTHER', message: 'x' } }, engine), 'HADB_HA_PROTOCOL')).toBe(
      true,
    );
    expect(isHaError(errorFromBody(502, null, engine), 'HADB_HA_FORWARD_FAILED')).toBe(true);
    expect(statusFor('HADB_HA_CLOSED')).toBe(421);
    expect(statusFor('HADB_HA_SHIP_FAILED')).toBe(503);
    expect(isRetryableForward(new HaError('HADB_HA_NOT_LEADER', 'x'))).toBe(true);
    expect(isRetryableForward(new HaError('HADB_HA_PROTOCOL', 'x'))).toBe(false);
  });

  it('reports bad options as HADB_HA_INVALID_CONFIG at construction, never clamped', () => {
    const base = {
      engine: () => ({}) as never,
      path: '/tmp/x',
      name: 'db',
      instanceId: 'n1',
      lease: { store: {} as never },
    };
    expect(resolveHaNodeOptions(base).followerPullIntervalMs).toBe(1000);
    for (const bad of [
      { shipIntervalMs: 0 },
      { followerPullIntervalMs: -5 },
      { durability: 'eventually' },
      { forwardRetryDelaysMs: [] },
      { groupCommitMs: -1 },
    ]) {
      let err: unknown;
      try {
        resolveHaNodeOptions({ ...base, ...(bad as object) });
      } catch (e) {
        err = e;
      }
      expect(isHaError(err, 'HADB_HA_INVALID_CONFIG'), JSON.stringify(bad)).toBe(true);
    }
  });
});
