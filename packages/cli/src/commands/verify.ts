import { requireObjects } from '../catalog.js';
import { withStorage, type Context } from '../context.js';
import { formatBytes, toJson } from '../output.js';
import { byteProgress } from '../progress.js';
import { assertVerified, verifyDatabase } from '../verify.js';

/** `hadb verify <db>`: checksums, chain and gaps of everything stored; exit 5 naming the first bad object. */
export async function verify(ctx: Context, db: string, opts: { json?: boolean; parallel: number }): Promise<void> {
  await withStorage(ctx, async (storage) => {
    const objects = await requireObjects(storage, db, { signal: ctx.signal });
    const bar = byteProgress(ctx.io, 'verify', 0, ctx.progress);
    let report;
    try {
      report = await verifyDatabase(storage, objects, {
        parallel: opts.parallel,
        signal: ctx.signal,
        onTotal: (n) => bar.setTotal(n),
        onBytes: (n) => bar.add(n),
      });
    } finally {
      bar.stop();
    }
    if (opts.json === true) {
      ctx.io.out(toJson({ database: db, ok: report.problems.length === 0, ...report }));
    } else {
      for (const p of report.problems) ctx.io.out(`BAD  ${p.key}: ${p.reason}`);
      for (const k of report.skipped) ctx.io.out(`SKIP ${k}: compaction level not checked`);
      if (report.problems.length === 0) {
        ctx.io.out(
          `${db}: OK, ${report.objects} objects (${formatBytes(report.bytes)}) verified; restorable up to seq ${report.head ?? '-'}`,
        );
      }
    }
    assertVerified(db, report);
  });
}
