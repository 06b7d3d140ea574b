// Routes channels to webhooks: one module, shared by several webhooks, gives each the
// channels its routes name (see routes.js for the params).

import { defineFilter } from 'switchyard-filter';

import { allows, checkRoutes } from './routes.js';

export default defineFilter({
  init: checkRoutes,
  decide(ctx, event, table) {
    return allows(table, ctx.webhookId, ctx.webhookTarget, event.channel) ? 'keep' : 'drop';
  },
});
