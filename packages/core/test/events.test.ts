import { describe, expect, it } from 'vitest';
import { ROLE_EVENT_BUFFER, RoleEventHub, type RoleEvent } from '../src/events.js';

describe('RoleEventHub', () => {
  it('delivers typed events to listeners by type and to "*", with off and once', () => {
    const hub = new RoleEventHub();
    const promoted: number[] = [];
    const all: string[] = [];
    const offPromoted = hub.on('promoted', (e) => promoted.push(e.epoch));
    hub.on('*', (e) => all.push(e.type));
    let onceCount = 0;
    hub.once('fenced', () => onceCount++);
    hub.emit({ type: 'promoted', db: 'a', epoch: 3 });
    hub.emit({ type: 'fenced', db: 'a', epoch: 3, reason: 'deadline' });
    hub.emit({ type: 'fenced', db: 'a', epoch: 3, reason: 'deadline' });
    offPromoted();
    hub.emit({ type: 'promoted', db: 'a', epoch: 4 });
    expect(promoted).toEqual([3]);
    expect(onceCount).toBe(1);
    expect(all).toEqual(['promoted', 'fenced', 'fenced', 'promoted']);
  });

  it('isolates a throwing listener', () => {
    const errors: unknown[] = [];
    const hub = new RoleEventHub((err) => errors.push(err));
    const seen: string[] = [];
    hub.on('*', () => {
      throw new Error('boom');
    });
    hub.on('*', (e) => seen.push(e.type));
    hub.emit({ type: 'sleeping', db: 'a' });
    expect(seen).toEqual(['sleeping']);
    expect(errors).toHaveLength(1);
  });

  it('async iterators receive events in order and end on abort, break, or close', async () => {
    const hub = new RoleEventHub();
    const controller = new AbortController();
    const received: RoleEvent[] = [];
    const consumer = (async () => {
      for await (const event of hub.iterate(controller.signal)) received.push(event);
    })();
    hub.emit({ type: 'joined', db: 'a', role: 'follower' });
    hub.emit({ type: 'promoted', db: 'a', epoch: 1 });
    await new Promise((r) => setImmediate(r));
    controller.abort();
    await consumer;
    expect(received.map((e) => e.type)).toEqual(['joined', 'promoted']);

    const it2 = hub.iterate();
    hub.emit({ type: 'demoted', db: 'a', epoch: 1, reason: 'handoff' });
    expect((await it2.next()).value).toMatchObject({ type: 'demoted' });
    await it2.return?.();
    expect((await it2.next()).done).toBe(true);

    const it3 = hub.iterate();
    const pending = it3.next();
    hub.close();
    expect((await pending).done).toBe(true);
  });

  it('a slow iterator keeps only the newest events', async () => {
    const hub = new RoleEventHub();
    const it = hub.iterate();
    for (let i = 0; i < ROLE_EVENT_BUFFER + 10; i++) hub.emit({ type: 'promoted', db: 'a', epoch: i });
    expect((await it.next()).value).toMatchObject({ epoch: 10 });
    await it.return?.();
  });
});
