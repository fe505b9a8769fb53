/**
 * Iterates `source` while reading ahead of the consumer: a background loop keeps pulling chunks
 * until `maxBytes` are buffered, so the network (or disk) keeps delivering while the consumer
 * decodes and writes. Errors of the source surface in order, after the chunks before them.
 * Stopping early (break, throw) stops the loop and releases the source.
 */
export async function* readAhead(source: AsyncIterable<Uint8Array>, maxBytes: number): AsyncGenerator<Uint8Array> {
  const it = source[Symbol.asyncIterator]();
  const queue: Uint8Array[] = [];
  let queued = 0;
  let finished = false;
  let stopped = false;
  let failure: { error: unknown } | undefined;
  let wakeConsumer: (() => void) | undefined;
  let wakeProducer: (() => void) | undefined;
  const wake = (which: 'consumer' | 'producer'): void => {
    const fn = which === 'consumer' ? wakeConsumer : wakeProducer;
    if (which === 'consumer') wakeConsumer = undefined;
    else wakeProducer = undefined;
    fn?.();
  };
  const pump = (async (): Promise<void> => {
    try {
      for (;;) {
        while (queued >= maxBytes && !stopped) await new Promise<void>((r) => (wakeProducer = r));
        if (stopped) return;
        const next = await it.next();
        if (next.done === true) return;
        queue.push(next.value);
        queued += next.value.length;
        wake('consumer');
      }
    } catch (error) {
      failure = { error };
    } finally {
      finished = true;
      wake('consumer');
    }
  })();
  try {
    for (;;) {
      const chunk = queue.shift();
      if (chunk !== undefined) {
        queued -= chunk.length;
        wake('producer');
        yield chunk;
        continue;
      }
      if (finished) {
        if (failure !== undefined) throw failure.error;
        return;
      }
      await new Promise<void>((r) => (wakeConsumer = r));
    }
  } finally {
    if (!finished) {
      stopped = true;
      wake('producer');
      await it.return?.().catch(() => undefined);
      await pump;
    }
  }
}
