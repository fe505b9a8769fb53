import { describeObjects, engineOf, listDatabases, requireObjects } from '../catalog.js';
import { withStorage, type Context } from '../context.js';
import { formatBytes, formatTime, table, toJson } from '../output.js';

function generationLabel(kind: string, generation: number): string {
  if (kind === 'hadbj') return 'journal';
  if (generation === 0) return 'incremental';
  if (generation === 1) return 'snapshot';
  return `level-${generation - 0x10 + 1}`;
}

/** `hadb ls [db]`: the databases in storage, or one database's snapshots and segments. */
export async function ls(ctx: Context, db: string | undefined, opts: { json?: boolean }): Promise<void> {
  await withStorage(ctx, async (storage) => {
    if (db === undefined) {
      const dbs = await listDatabases(storage, { signal: ctx.signal });
      if (opts.json === true) ctx.io.out(toJson({ databases: dbs }));
      else if (dbs.length === 0) ctx.io.err('no databases in storage');
      else for (const name of dbs) ctx.io.out(name);
      return;
    }
    const objects = await requireObjects(storage, db, { signal: ctx.signal });
    const details = await describeObjects(storage, objects, { signal: ctx.signal });
    const rows = details.map((d) => ({
      type: generationLabel(d.kind, d.generation),
      seq: d.seq,
      ...(d.lastSeq !== null ? { lastSeq: d.lastSeq } : {}),
      size: d.size,
      epoch: d.epoch,
      created: d.createdMs === null ? null : new Date(d.createdMs).toISOString(),
      key: d.key,
    }));
    if (opts.json === true) {
      ctx.io.out(toJson({ database: db, engine: engineOf(details), objects: rows }));
      return;
    }
    ctx.io.out(
      `database ${db} (${engineOf(details)}): ${details.length} objects, ${formatBytes(details.reduce((n, d) => n + d.size, 0))}`,
    );
    for (const line of table(
      ['TYPE', 'SEQ', 'SIZE', 'EPOCH', 'CREATED', 'KEY'],
      details.map((d) => [
        generationLabel(d.kind, d.generation),
        d.lastSeq !== null ? `${d.seq}-${d.lastSeq}` : d.seq.toString(),
        formatBytes(d.size),
        d.epoch === null ? '-' : d.epoch.toString(),
        formatTime(d.createdMs),
        d.key,
      ]),
    )) {
      ctx.io.out(line);
    }
  });
}
