import { HadbError } from '@hadb/io';
import { describe, expect, it } from 'vitest';
import { ADMIN_EVENT_TYPES, WebhookNotifier, eventFailure, restoreFailedEvent } from '../src/index.js';

class EngineError extends HadbError<string> {
  override readonly name = 'EngineError';
}

describe('restore_failed events', () => {
  it('are an event kind a webhook target can subscribe to', () => {
    expect(ADMIN_EVENT_TYPES).toContain('restore_failed');
    expect(
      () => new WebhookNotifier({ targets: [{ url: 'http://127.0.0.1:9/hook', events: ['restore_failed'] }] }),
    ).not.toThrow();
  });

  it('carry the typed code, the deepest differing cause code and a one-line, credential-free message', () => {
    const checksum = new EngineError('HADB_CHANGESET_CHECKSUM_MISMATCH', 'segment 7: checksum mismatch');
    const err = new EngineError(
      'HADB_CLI_RESTORE',
      'restore failed: GET s3://AKIAEXAMPLE:hunter2secret@bucket/app failed\n    at somewhere (file.js:1:1)',
      { cause: new EngineError('HADB_STORAGE_UNAVAILABLE', 'token=hunter2secret', { cause: checksum }) },
    );
    const event = restoreFailedEvent('orders', err, { command: 'restore', path: '/restore/orders.db' });
    expect(event).toEqual({
      type: 'restore_failed',
      db: 'orders',
      error: 'HADB_CLI_RESTORE: restore failed: GET s3://****@bucket/app failed',
      context: {
        command: 'restore',
        path: '/restore/orders.db',
        code: 'HADB_CLI_RESTORE',
        cause_code: 'HADB_CHANGESET_CHECKSUM_MISMATCH',
      },
    });
    const payload = new WebhookNotifier({ targets: [] }).payload({ ...event, nodeId: 'box' }, 0);
    expect(payload).toEqual({
      event: 'restore_failed',
      database: 'orders',
      error: event.error,
      attempts: 0,
      timestamp: '1970-01-01T00:00:00.000Z',
      version: '0.1.0',
      context: { ...event.context, node: 'box' },
    });
    expect(JSON.stringify(payload)).not.toContain('hunter2secret');
  });

  it('name what they can of errors that are not hadb errors', () => {
    const enoent = Object.assign(new Error("ENOENT: no such file or directory, open '/x'"), { code: 'ENOENT' });
    expect(eventFailure(enoent)).toEqual({
      code: 'ENOENT',
      causeCode: undefined,
      error: "ENOENT: no such file or directory, open '/x'",
    });
    expect(eventFailure(new TypeError('bad'))).toEqual({
      code: 'TypeError',
      causeCode: undefined,
      error: 'TypeError: bad',
    });
    expect(eventFailure('plain')).toEqual({ code: 'NonError', causeCode: undefined, error: 'NonError: plain' });
  });
});
