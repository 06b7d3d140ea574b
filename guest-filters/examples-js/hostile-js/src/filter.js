// A deliberately hostile filter, for tests that the gateway contains it.
//
// Params: { misbehave: 'loop' | 'memory' | 'throw' | 'bad_verdict' | 'refuse_init' }.
// `refuse_init` throws in `init`; the others strike when a batch holds an event named, or on
// a channel named, `misbehave`: spin forever, allocate without end, throw, or answer with
// something that is no verdict. Other events are kept.

import { defineFilter, log } from 'switchyard-filter';

const MISBEHAVIOURS = ['loop', 'memory', 'throw', 'bad_verdict', 'refuse_init'];

export default defineFilter({
  init({ misbehave }) {
    if (!MISBEHAVIOURS.includes(misbehave)) {
      throw new Error(`misbehave must be one of ${MISBEHAVIOURS.join(', ')}`);
    }
    if (misbehave === 'refuse_init') throw new Error('hostile filter refuses to start');
    return misbehave;
  },
  decide(ctx, event, misbehave) {
    if (event.name !== 'misbehave' && event.channel !== 'misbehave') return 'keep';
    log.warn(`misbehaving: ${misbehave}`);
    switch (misbehave) {
      case 'loop':
        for (;;);
      case 'memory': {
        // Megabytes written to, so the memory is really used.
        const hoard = [];
        for (;;) hoard.push(new Uint8Array(1 << 20).fill(1));
      }
      case 'throw':
        throw new Error('hostile filter throws on purpose');
      default:
        return 'maybe';
    }
  },
});
