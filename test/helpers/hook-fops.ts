/**
 * A fault-injection layer for tests (GlusterFS keeps fault injection as a translator too):
 * runs hooks after chosen FOPs complete and can "kill the gateway" — every later FOP through
 * any layer sharing the same switch fails with ENOTCONN, as if the process had died between
 * two steps of a composite FOP.
 */
import { err, FOPS, PassThroughFops, type BrickFops, type FopName } from '../../dht2-core/protocol/index.js';

export class KillSwitch {
  dead = false;
  /**
   * Runs before each FOP is passed down; throwing fails the FOP unapplied (a brick that is
   * down). The layer's role says which kind of brick it fronts.
   */
  before: ((fop: FopName, role: 'mds' | 'ds') => void) | undefined;
  /**
   * Runs after each completed FOP; the scenario decides when to die or to kill a brick.
   * Throwing loses the reply: the FOP was applied, the caller sees the error.
   */
  after: ((fop: FopName, req: unknown) => Promise<void> | void) | undefined;
}

export class HookFops extends PassThroughFops {
  constructor(protected override readonly child: BrickFops, private readonly sw: KillSwitch, private readonly role: 'mds' | 'ds' = 'mds') {
    super();
  }

  protected override async around<T>(fop: FopName, req: unknown, run: () => Promise<T>): Promise<T> {
    if (this.sw.dead) throw err('ENOTCONN', `gateway died before ${fop}`);
    this.sw.before?.(fop, this.role);
    const r = await run();
    // A download changes nothing: the scenarios' hooks run after the FOPs that do.
    if (FOPS[fop].kind !== 'download') await this.sw.after?.(fop, req);
    return r;
  }
}
