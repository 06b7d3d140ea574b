// Stamps every event with a `filter_stamp` field naming the build that decided it:
// `STAMP=v2 npm run build` makes a module that stamps `v2` (a build-time constant).

import { defineFilter } from 'switchyard-filter';

/* global STAMP */
export const stamp = typeof STAMP === 'string' ? STAMP : 'unstamped';

export default defineFilter({
  decide(ctx, event) {
    return { replace: { ...event.json(), filter_stamp: stamp } };
  },
});
