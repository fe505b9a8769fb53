/** Prints one JSON line on stdout: `{"event": ..., "t": <ms since epoch>, ...}` (the demo parses these). */
export function log(event: string, fields: Record<string, unknown> = {}): void {
  process.stdout.write(`${JSON.stringify({ event, t: Date.now(), ...fields }, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))}\n`);
}
