import { connect, createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import { IoError, classifyError, httpStatusOf, isRequestNotSent } from '../src/index.js';

/** A real connection failure from the OS: connect to a port nobody listens on. */
async function refusedError(): Promise<Error> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.on('error', resolve);
  });
}

/** A real reset: the server destroys the socket while the client writes. */
async function resetError(): Promise<Error> {
  const server = createServer((s) => s.resetAndDestroy());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  try {
    return await new Promise((resolve) => {
      const socket = connect(port, '127.0.0.1', () => socket.write('hello'));
      socket.on('error', resolve);
    });
  } finally {
    server.close();
  }
}

/** The shape `@aws-sdk/client-s3` gives service errors (`S3ServiceException`). */
function awsError(name: string, status: number | undefined, extra: Record<string, unknown> = {}): Error {
  const e = new Error('UnknownError') as Error & Record<string, unknown>;
  e.name = name;
  e.$fault = status !== undefined && status >= 500 ? 'server' : 'client';
  e.$metadata = status === undefined ? { attempts: 1 } : { httpStatusCode: status, requestId: 'tx1', attempts: 1 };
  Object.assign(e, extra);
  return e;
}

describe('classifyError', () => {
  it('maps its own errors', () => {
    expect(classifyError(new IoError('HADB_IO_ABORTED', 'x'))).toBe('aborted');
    expect(classifyError(new IoError('HADB_IO_CIRCUIT_OPEN', 'x'))).toBe('transient');
  });

  it('classifies real Node socket errors', async () => {
    const refused = await refusedError();
    expect((refused as NodeJS.ErrnoException).code).toBe('ECONNREFUSED');
    expect(classifyError(refused)).toBe('transient');
    const reset = await resetError();
    expect(['ECONNRESET', 'EPIPE']).toContain((reset as NodeJS.ErrnoException).code);
    expect(classifyError(reset)).toBe('transient');
  });

  it('classifies Node system error codes', () => {
    for (const code of [
      'ECONNRESET',
      'ETIMEDOUT',
      'EPIPE',
      'ECONNREFUSED',
      'EAI_AGAIN',
      'ENOTFOUND',
      'UND_ERR_SOCKET',
    ]) {
      expect([code, classifyError(Object.assign(new Error('x'), { code }))]).toEqual([code, 'transient']);
    }
    expect(classifyError(Object.assign(new Error('x'), { code: 'ENOENT' }))).toBe('unknown');
    expect(classifyError(Object.assign(new Error('x'), { code: 'ABORT_ERR', name: 'AbortError' }))).toBe('aborted');
  });

  it('classifies AWS SDK error shapes', () => {
    expect(classifyError(awsError('NoSuchKey', 404))).toBe('not-found');
    expect(classifyError(awsError('NotFound', 404))).toBe('not-found');
    expect(classifyError(awsError('PreconditionFailed', 412))).toBe('conflict');
    expect(classifyError(awsError('ConditionalRequestConflict', 409))).toBe('conflict');
    expect(classifyError(awsError('SignatureDoesNotMatch', 403))).toBe('auth');
    expect(classifyError(awsError('InvalidAccessKeyId', 403))).toBe('auth');
    expect(classifyError(awsError('SlowDown', 503))).toBe('throttled');
    expect(classifyError(awsError('ThrottlingException', 400))).toBe('throttled');
    expect(classifyError(awsError('UnknownError', 500))).toBe('transient');
    expect(classifyError(awsError('InternalError', 500))).toBe('transient');
    expect(classifyError(awsError('BadDigest', 400))).toBe('client');
    expect(classifyError(awsError('InvalidRange', 416))).toBe('client');
    expect(classifyError(awsError('NotImplemented', 501))).toBe('client');
    expect(classifyError(awsError('Whatever', 429))).toBe('throttled');
    // No status: the name and the `$retryable` trait decide.
    expect(classifyError(awsError('TimeoutError', undefined))).toBe('transient');
    expect(classifyError(awsError('CredentialsProviderError', undefined))).toBe('auth');
    expect(classifyError(awsError('Odd', undefined, { $retryable: { throttling: true } }))).toBe('throttled');
    expect(classifyError(awsError('Odd', undefined, { $retryable: {} }))).toBe('transient');
  });

  it('reads plain status fields', () => {
    expect(classifyError({ status: 401 })).toBe('auth');
    expect(classifyError({ statusCode: 502 })).toBe('transient');
    expect(classifyError({ $response: { statusCode: 404 } })).toBe('not-found');
    expect(httpStatusOf({ status: 'nope' })).toBeUndefined();
  });

  it('follows cause chains and AggregateError', () => {
    const wrapped = new Error('fetch failed', { cause: Object.assign(new Error('x'), { code: 'ECONNRESET' }) });
    expect(classifyError(wrapped)).toBe('transient');
    const aggregate = new AggregateError([Object.assign(new Error('x'), { code: 'ECONNREFUSED' })], 'x');
    expect(classifyError(aggregate)).toBe('transient');
    const cyclic: Error & { cause?: unknown } = new Error('x');
    cyclic.cause = cyclic;
    expect(classifyError(cyclic)).toBe('unknown');
  });

  it('does not read message text', () => {
    expect(classifyError(new Error('503 Service Unavailable: connection reset, timed out'))).toBe('unknown');
    expect(classifyError(new TypeError('x is not a function'))).toBe('unknown');
    expect(classifyError('ECONNRESET')).toBe('unknown');
    expect(classifyError(undefined)).toBe('unknown');
  });
});

describe('isRequestNotSent', () => {
  it('is true only for failures before the request could reach the server', async () => {
    expect(isRequestNotSent(await refusedError())).toBe(true);
    expect(isRequestNotSent(await resetError())).toBe(false);
    expect(isRequestNotSent(Object.assign(new Error('x'), { code: 'ENOTFOUND' }))).toBe(true);
    expect(isRequestNotSent(Object.assign(new Error('x'), { code: 'ETIMEDOUT' }))).toBe(false);
    expect(isRequestNotSent(awsError('UnknownError', 500))).toBe(false);
    expect(isRequestNotSent(awsError('TimeoutError', undefined))).toBe(false);
    expect(isRequestNotSent(new Error('x', { cause: Object.assign(new Error('y'), { code: 'ECONNREFUSED' }) }))).toBe(
      true,
    );
  });
});
