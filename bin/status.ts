/** `dht2 status`: the volume's bricks (reachable, identity, capacity) as a table. */
import { Volume } from '../dht2-core/index.js';

function bytes(n: number | undefined): string {
  if (n === undefined) return '-';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return `${v.toFixed(i === 0 ? 0 : 1)} ${units[i]}`;
}

/** Prints the status; resolves with the number of bricks that are down or wrong (the exit code). */
export async function runStatus(volfile: string, json: boolean, out: NodeJS.WritableStream = process.stdout): Promise<number> {
  const v = await Volume.open(volfile, { checkBricks: false, timeoutMs: 3000 });
  try {
    const [health, fs, sets] = await Promise.all([v.brickHealth(), v.brickStatfs(), v.replica > 1 ? v.setStatus() : Promise.resolve([])]);
    const vf = v.file!;
    const ids = v.setIds();
    const rows = health.map((b) => {
      // Capacity is per set: on a replicated set, its primary's.
      const i = (b.role === 'mds' ? ids.mds : ids.ds).indexOf(b.set);
      const s = fs.find((x) => x.role === b.role && x.index === i)?.statfs;
      return {
        brick: b.id, role: b.role, url: b.url, state: !b.up ? 'DOWN' : b.problem ? 'WRONG' : 'up',
        size: s ? s.blocks * s.bsize : undefined, avail: s ? s.bavail * s.bsize : undefined,
        used: s ? Math.round((1 - s.bavail / Math.max(1, s.blocks)) * 100) : undefined, problem: b.problem,
      };
    });
    const bad = rows.filter((r) => r.state !== 'up').length;
    if (json) {
      out.write(JSON.stringify({ volume: vf.name, volumeId: vf.volumeId, replica: v.replica, bricks: rows, ...(v.replica > 1 ? { sets } : {}) }, null, 2) + '\n');
      return bad;
    }
    const table = [['BRICK', 'ROLE', 'URL', 'STATE', 'SIZE', 'AVAILABLE', 'USED'],
      ...rows.map((r) => [r.brick, r.role, r.url, r.state, bytes(r.size), bytes(r.avail), r.used === undefined ? '-' : `${r.used}%`])];
    const widths = table[0]!.map((_, c) => Math.max(...table.map((row) => row[c]!.length)));
    const shape = v.replica === 1 ? `${vf.mds.length} MDS, ${vf.ds.length} DS` : `replica ${v.replica}, ${vf.mds.length} MDS sets, ${vf.ds.length} DS sets`;
    out.write(`volume ${vf.name} (${vf.volumeId}): ${shape}, ${bad === 0 ? 'all bricks up' : `${bad} brick(s) down or wrong`}\n\n`);
    for (const row of table) out.write(row.map((cell, c) => cell.padEnd(widths[c]!)).join('  ').trimEnd() + '\n');
    for (const r of rows) if (r.problem) out.write(`\n${r.brick}: ${r.problem}`);
    if (rows.some((r) => r.problem)) out.write('\n');
    for (const s of sets) {
      const head = s.available ? `primary ${s.primary} (term ${s.term})` : 'NO PRIMARY';
      out.write(`\nset ${s.id}: ${head}${s.degraded.length > 0 ? `; degraded: ${s.degraded.join(', ')}` : ''}`);
    }
    if (sets.length > 0) out.write('\n');
    return bad;
  } finally {
    await v.close();
  }
}
