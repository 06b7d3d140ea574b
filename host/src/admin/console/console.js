// The Switchyard console: one page, hash routes, JSON from the admin listener polled every 2 s.
// Plain DOM and no build step; data only ever goes into the page as text (textContent), never
// as markup. The page's CSP allows no inline script or style attribute, so looks are classes.
'use strict';
(() => {
  const POLL_MS = 2000;
  const CSRF = (document.querySelector('meta[name="switchyard-csrf"]') || {}).content || '';
  const REASONS = ['rejected', 'expired', 'filter_failed', 'webhook_removed'];
  const HEALTH_WORDS = {
    ok: 'healthy', failing: 'failing', paused: 'paused', circuit_open: 'circuit open', idle: 'idle',
  };
  const SVG = 'http://www.w3.org/2000/svg';
  const view = document.getElementById('view');

  // ---- DOM --------------------------------------------------------------------------------

  // h('a.link', {href, testid, data: {x: 1}}, 'text', child, [more]): an element. Strings
  // become text nodes; null and false are skipped.
  function h(spec, attrs, ...children) {
    const [tag, ...classes] = spec.split('.');
    const el = document.createElement(tag || 'div');
    if (classes.length) el.className = classes.join(' ');
    setAttrs(el, attrs);
    append(el, children);
    return el;
  }

  function setAttrs(el, attrs) {
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (name === 'testid') el.setAttribute('data-testid', value);
      else if (name === 'data') {
        for (const [k, v] of Object.entries(value)) if (v !== null && v !== undefined) el.dataset[k] = v;
      } else if (name === 'cls') el.classList.add(...String(value).split(' ').filter(Boolean));
      else el.setAttribute(name, value === true ? '' : value);
    }
  }

  function append(el, children) {
    for (const child of children.flat(Infinity)) {
      if (child === null || child === undefined || child === false) continue;
      el.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
  }

  function svg(tag, attrs) {
    const el = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, v);
    return el;
  }

  // ---- formatting -------------------------------------------------------------------------

  let skewMs = 0; // the gateway's clock minus ours, from /overview's now_ms
  let stepSeconds = 5; // the width of a `series` bucket, from /overview's step_s
  const serverNow = () => Date.now() + skewMs;

  function age(ms) {
    const s = Math.max(0, ms) / 1000;
    if (s < 1) return 'now';
    if (s < 60) return `${Math.floor(s)} s`;
    if (s < 3600) return `${Math.floor(s / 60)} min`;
    if (s < 86400) return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
    return `${Math.floor(s / 86400)} d ${Math.floor((s % 86400) / 3600)} h`;
  }

  // A moment as "12 s ago" (or "in 3 s"), the exact time on hover.
  function when(ms) {
    if (ms === null || ms === undefined) return h('span.muted', {}, '—');
    const d = ms - serverNow();
    const text = d > 1000 ? `in ${age(d)}` : (age(-d) === 'now' ? 'just now' : `${age(-d)} ago`);
    return h('time', { datetime: new Date(ms).toISOString(), title: new Date(ms).toLocaleString() }, text);
  }

  // When the next attempt is due; one already due waits for its lane (or the circuit's probe).
  function nextAttempt(ms) {
    if (ms === null || ms === undefined) return h('span.muted', {}, '—');
    if (ms > serverNow() + 1000) return when(ms);
    return h('time', { datetime: new Date(ms).toISOString(), title: new Date(ms).toLocaleString() }, 'due now');
  }

  function millis(ms) {
    if (ms === null || ms === undefined) return '—';
    if (ms < 1) return `${ms.toFixed(2)} ms`;
    if (ms < 1000) return `${ms < 10 ? ms.toFixed(1) : Math.round(ms)} ms`;
    return `${(ms / 1000).toFixed(ms < 10000 ? 2 : 1)} s`;
  }

  function rate(n) {
    if (!n) return '0';
    if (n < 0.1) return n.toFixed(2);
    if (n < 10) return n.toFixed(1);
    return Math.round(n).toLocaleString();
  }

  const count = (n) => (n === null || n === undefined ? '—' : Number(n).toLocaleString());
  const plural = (n, word) => `${count(n)} ${word}${n === 1 ? '' : 's'}`;
  const shortHash = (hash) => (hash ? String(hash).slice(0, 12) : '—');
  const sum = (values) => (values || []).reduce((a, b) => a + (b || 0), 0);
  const webhookHref = (app, webhook) =>
    `#/webhooks/${encodeURIComponent(app)}/${encodeURIComponent(webhook)}`;
  const webhookPath = (app, webhook) =>
    `/webhooks/${encodeURIComponent(app)}/${encodeURIComponent(webhook)}`;

  function healthBadge(health) {
    return h('span.badge', { cls: `health-${health}`, testid: 'health-badge', data: { health } },
      HEALTH_WORDS[health] || health);
  }

  function stateBadge(state) {
    return h('span.badge', { cls: `state-${state}`, testid: 'delivery-state' }, String(state).replace('_', ' '));
  }

  // Definition list from [label, value, testid?] rows (rows with value undefined are left out).
  function facts(rows, testid) {
    const dl = h('dl.facts', { testid });
    for (const [label, value, id] of rows) {
      if (value === undefined) continue;
      dl.append(h('dt', {}, label), h('dd', { testid: id }, value === null ? '—' : value));
    }
    return dl;
  }

  // A table that becomes one card per row on a narrow screen (each cell labelled by its column).
  function table(columns, rows, attrs) {
    const head = h('tr', {}, columns.map((c) => h('th', { scope: 'col', cls: c.cls }, c.label)));
    const body = h('tbody', {}, rows.map((row) => {
      const tr = h('tr', row.attrs || {});
      columns.forEach((c, i) => tr.append(h('td', { 'data-label': c.label, cls: c.cls }, row.cells[i])));
      return tr;
    }));
    return h('div.table-box.scroll', attrs || {}, h('table.data', {}, h('thead', {}, head), body));
  }

  function empty(text, testid) {
    return h('p.empty', { testid }, text);
  }

  // Events/s and failures over the last `buckets` steps, newest last.
  function recent(series, stepS, seconds) {
    const buckets = Math.max(1, Math.round(seconds / stepS));
    const tail = (name) => ((series && series[name]) || []).slice(-buckets);
    return {
      delivered: sum(tail('delivered')) / (buckets * stepS),
      failed: sum(tail('failed')),
    };
  }

  // A small chart of delivered events (area) and failed attempts (line) per bucket.
  function sparkline(series, stepS, testid) {
    const delivered = (series && series.delivered) || [];
    const failed = (series && series.failed) || [];
    const n = Math.max(delivered.length, failed.length, 2);
    const width = 120;
    const height = 30;
    const top = Math.max(1, ...delivered, ...failed);
    const x = (i) => ((i / (n - 1)) * width).toFixed(1);
    const y = (v) => (height - 1 - ((v || 0) / top) * (height - 3)).toFixed(1);
    const line = (values) => values.map((v, i) => `${x(i + n - values.length)},${y(v)}`).join(' ');
    const minutes = Math.round((n * stepS) / 60);
    const chart = svg('svg', {
      class: 'spark', viewBox: `0 0 ${width} ${height}`, preserveAspectRatio: 'none',
      role: 'img', 'data-testid': testid,
      'aria-label': `delivered events and failed attempts, last ${minutes} min`,
    });
    const title = svg('title');
    title.textContent = `last ${minutes} min: ${sum(delivered)} events delivered, ${sum(failed)} failed attempts`;
    chart.append(title);
    chart.append(svg('line', { class: 'spark-base', x1: 0, x2: width, y1: height - 0.5, y2: height - 0.5 }));
    if (delivered.length) {
      const area = `0,${height} ${line(delivered)} ${width},${height}`;
      chart.append(svg('polygon', { class: 'spark-delivered', points: area }));
    }
    if (failed.some((v) => v > 0)) chart.append(svg('polyline', { class: 'spark-failed', points: line(failed) }));
    return chart;
  }

  // ---- talking to the gateway ------------------------------------------------------------

  class ApiError extends Error {
    constructor(status, message) {
      super(message);
      this.status = status;
    }
  }

  let signedOut = false;

  async function api(path, body) {
    const init = { credentials: 'same-origin', headers: { Accept: 'application/json' } };
    if (body !== undefined) {
      init.method = 'POST';
      init.headers['Content-Type'] = 'application/json';
      init.headers['X-Switchyard-CSRF'] = CSRF;
      init.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(path, init);
    } catch (e) {
      throw new ApiError(0, 'the gateway does not answer');
    }
    if (response.status === 401) {
      showSignedOut();
      throw new ApiError(401, 'signed out');
    }
    const data = await response.json().catch(() => null);
    if (!response.ok) {
      throw new ApiError(response.status, (data && data.error) || `HTTP ${response.status}`);
    }
    return data;
  }

  function showSignedOut() {
    if (signedOut) return;
    signedOut = true;
    clearTimeout(timer);
    document.querySelector('[data-testid="signed-out"]').hidden = false;
    setLive('signed-out', 'signed out');
  }

  function setLive(state, text) {
    const el = document.querySelector('[data-testid="live-status"]');
    el.dataset.state = state;
    el.textContent = text;
  }

  let flashTimer = null;
  function flash(text, kind) {
    const el = document.querySelector('[data-testid="flash"]');
    el.textContent = text;
    el.dataset.kind = kind || 'ok';
    el.hidden = false;
    clearTimeout(flashTimer);
    flashTimer = setTimeout(() => { el.hidden = true; }, 8000);
  }

  // Asks in the page's own dialog; resolves true when confirmed.
  function confirmAction(title, message, okLabel, danger) {
    const dialog = document.querySelector('[data-testid="confirm-dialog"]');
    dialog.querySelector('[data-testid="confirm-title"]').textContent = title;
    dialog.querySelector('[data-testid="confirm-message"]').textContent = message;
    const ok = dialog.querySelector('[data-testid="confirm-ok"]');
    ok.textContent = okLabel;
    ok.classList.toggle('danger', Boolean(danger));
    dialog.returnValue = '';
    dialog.showModal();
    return new Promise((resolve) => {
      dialog.addEventListener('close', () => resolve(dialog.returnValue === 'ok'), { once: true });
    });
  }

  // Runs a confirmed POST, reports its outcome, refreshes the view.
  async function act({ title, message, ok, danger, path, body, done }) {
    if (!(await confirmAction(title, message, ok, danger))) return;
    try {
      const result = await api(path, body);
      flash(done(result), 'ok');
    } catch (e) {
      if (e.status !== 401) flash(`${title} failed: ${e.message}`, 'error');
    }
    refreshNow();
  }

  // ---- views ------------------------------------------------------------------------------
  // A view: `shell(root, route)` draws what stays (titles, forms) and returns the element the
  // live part goes into; `load(route)` fetches; `render(data, route)` draws the live part anew.

  const overviewView = {
    title: 'Overview',
    shell(root) {
      root.append(h('h1.visually-hidden', {}, 'Overview'));
      return h('div', { testid: 'overview' });
    },
    load: () => api('/overview'),
    render(data) {
      skewMs = (data.now_ms || Date.now()) - Date.now();
      const reloads = [...(data.reloads || [])].sort((a, b) => b.at_ms - a.at_ms);
      const webhooks = (data.apps || []).flatMap((a) => a.webhooks || []);
      stepSeconds = data.step_s || stepSeconds;
      const stepS = stepSeconds;
      const out = [];
      if (reloads.length && !reloads[0].ok) {
        out.push(h('section.banner.bad', { testid: 'reload-failed', role: 'alert' },
          h('strong', {}, 'The last config reload was refused. '),
          'The previous config keeps serving. ', when(reloads[0].at_ms), ` (${String(reloads[0].trigger).replace('_', ' ')})`,
          h('pre.error-text', { testid: 'reload-failed-error' }, reloads[0].error || 'no error given')));
      }
      out.push(summary(webhooks, data));
      for (const app of data.apps || []) {
        out.push(h('section.app', { testid: 'app', data: { app: app.id } },
          h('h2', {}, h('span.muted', {}, 'app '), app.id),
          (app.webhooks || []).length
            ? h('div.cards', {}, app.webhooks.map((w) => webhookCard(w, stepS)))
            : empty('No webhooks.')));
      }
      if (!(data.apps || []).length) out.push(empty('No apps in the running config.', 'no-apps'));
      out.push(configPanel(data, reloads));
      return out;
    },
  };

  function summary(webhooks, data) {
    const bad = webhooks.filter((w) => ['failing', 'circuit_open'].includes(w.health)).length;
    const paused = webhooks.filter((w) => w.paused).length;
    const queued = sum(webhooks.map((w) => (w.queue && w.queue.events) || 0));
    const dead = sum(webhooks.map((w) => w.dead_lettered || 0));
    const item = (label, value, testid, cls) =>
      h('div.stat', { cls, testid }, h('span.value', {}, value), h('span.label', {}, label));
    return h('section.summary', { testid: 'summary' },
      item('webhooks', count(webhooks.length), 'summary-webhooks'),
      item('failing', count(bad), 'summary-failing', bad ? 'bad' : ''),
      item('paused', count(paused), 'summary-paused', paused ? 'warn' : ''),
      item('events waiting', count(queued), 'summary-queued'),
      h('a.stat', { href: '#/dead-letters', testid: 'summary-dead-letters', cls: dead ? 'warn' : '' },
        h('span.value', {}, count(dead)), h('span.label', {}, 'dead-lettered since start')),
      h('div.stat.meta', {}, h('span.value.small', { testid: 'queue-backend' }, data.queue_backend || '—'), h('span.label', {}, 'queue')));
  }

  function metrics(w, stepS, bigger) {
    const minute = recent(w.series, stepS, 60);
    const five = recent(w.series, stepS, 300);
    const queue = w.queue || {};
    const m = (label, value, testid, cls) =>
      h('div.metric', { cls, testid: `${testid}-box` }, h('span.value', { testid }, value), h('span.label', {}, label));
    return h('div.metrics', { cls: bigger ? 'wide' : '' },
      m('events/s (1 min)', rate(minute.delivered), 'rate'),
      m('failed (5 min)', count(five.failed), 'failures', five.failed ? 'bad' : ''),
      m('waiting', count(queue.events || 0), 'queue-events', queue.events ? 'warn' : ''),
      m('oldest', oldestAge(queue) === null ? '—' : age(oldestAge(queue)), 'queue-oldest'),
      m('dead-lettered since start', count(w.dead_lettered || 0), 'dead-letters', w.dead_lettered ? 'warn' : ''));
  }

  function describeEvents(w) {
    const types = w.event_types && w.event_types.length ? w.event_types : null;
    return types
      ? h('span.chips', {}, types.map((t) => h('span.chip', {}, t)))
      : h('span.muted', {}, 'all event types');
  }

  // The channel filter: a prefix and/or a suffix (or, from older gateways, a sentence).
  function describeChannels(w) {
    const c = w.channels;
    if (typeof c === 'string' && c) return c;
    const parts = [];
    if (c && c.starts_with) parts.push(h('span', {}, 'starting ', h('span.chip', {}, c.starts_with)));
    if (c && c.ends_with) parts.push(h('span', {}, `${parts.length ? ', ' : ''}ending `, h('span.chip', {}, c.ends_with)));
    return parts.length ? h('span', {}, parts) : h('span.muted', {}, 'all');
  }

  // How long the oldest waiting event has waited: `oldest_ms` is that age (a small number) or,
  // read as a moment, since the epoch.
  function oldestAge(queue) {
    const v = queue && queue.oldest_ms;
    if (v === null || v === undefined) return null;
    return v > 1e12 ? serverNow() - v : v;
  }

  function describeFilters(w) {
    const names = (w.filters || []).map((f) => (typeof f === 'string' ? f : f.name));
    return names.length ? h('span.chips', {}, names.map((n) => h('span.chip.filter', {}, n))) : h('span.muted', {}, 'none');
  }

  function webhookCard(w, stepS) {
    return h('article.card', {
      testid: 'webhook-card', data: { app: w.app, webhook: w.id, health: w.health },
    },
    h('header.card-head', {},
      h('a.card-title', { href: webhookHref(w.app, w.id), testid: 'webhook-link' }, w.id),
      healthBadge(w.health)),
    h('div.target.mono', { testid: 'webhook-target', title: w.target }, w.target),
    facts([
      ['events', describeEvents(w)],
      ['channels', describeChannels(w)],
      ['filters', describeFilters(w)],
      ['circuit', h('span', { cls: w.circuit === 'open' ? 'bad-text' : '', testid: 'circuit' }, w.circuit || '—')],
    ]),
    metrics(w, stepS),
    h('div.spark-box', {}, sparkline(w.series, stepS, 'sparkline'),
      h('span.spark-legend', {}, h('span.key.delivered', {}, 'delivered'), h('span.key.failed', {}, 'failed'))));
  }

  function configPanel(data, reloads) {
    const config = data.config || {};
    const counts = data.reload_counts || {};
    return h('section.panel', { testid: 'config' },
      h('h2', {}, 'Running config'),
      facts([
        ['file', h('span.mono.wrap', {}, config.path || '—'), 'config-path'],
        ['hash', h('span.mono', { title: config.hash || '' }, shortHash(config.hash)), 'config-hash'],
        ['loaded', when(config.loaded_at_ms), 'config-loaded'],
        ['reloads', `${count(counts.succeeded || 0)} succeeded, ${count(counts.failed || 0)} refused`, 'reload-counts'],
        ['gateway', `Switchyard ${data.version || ''}`],
      ]),
      h('h3', {}, 'Last reloads'),
      reloads.length
        ? table(
          [{ label: 'when' }, { label: 'trigger' }, { label: 'outcome' }, { label: 'took' }, { label: 'error', cls: 'grow' }],
          reloads.slice(0, 10).map((r) => ({
            attrs: { testid: 'reload-row', data: { ok: String(Boolean(r.ok)) } },
            cells: [when(r.at_ms), String(r.trigger).replace('_', ' '), h('span.badge', { cls: r.ok ? 'health-ok' : 'health-failing' }, r.ok ? 'applied' : 'refused'),
              millis(r.duration_ms), r.error ? h('span.error-text.mono', {}, r.error) : h('span.muted', {}, '—')],
          })),
          { testid: 'reloads' })
        : empty('No reloads since the gateway started.', 'no-reloads'));
  }

  const webhookView = {
    title: 'Webhook',
    shell(root, route) {
      const [app, webhook] = route.args;
      root.append(crumbs([['Overview', '#/'], [`app ${app}`, null], [webhook, null]]));
      return h('div', { testid: 'webhook-page' });
    },
    load: (route) => api(webhookPath(...route.args)),
    render(w, route) {
      const [app, id] = route.args;
      const root = document.querySelector('[data-testid="webhook-page"]');
      root.dataset.paused = String(Boolean(w.paused));
      root.dataset.health = w.health;
      const action = w.paused
        ? h('button.button.primary', { type: 'button', testid: 'resume-button', data: { action: 'resume' } }, 'Resume')
        : h('button.button', { type: 'button', testid: 'pause-button', data: { action: 'pause' } }, 'Pause');
      const deliveries = w.deliveries || [];
      return [
        h('div.page-head', {},
          h('h1', {}, id, ' ', healthBadge(w.health)),
          h('div.head-actions', {},
            h('a.button', { href: `#/dead-letters?app=${encodeURIComponent(app)}&webhook=${encodeURIComponent(id)}`, testid: 'webhook-dead-letters' },
              'Dead letters'),
            action)),
        w.paused
          ? h('p.banner.warn', { testid: 'paused-banner' }, h('strong', {}, 'Paused '), when(w.paused_at_ms),
            w.paused_by ? ` by ${w.paused_by}` : '',
            '. Its deliveries are held: nothing is sent until it is resumed; ingest still accepts its events.')
          : null,
        h('div.target.mono', { testid: 'webhook-target' }, w.target),
        metrics(w, w.step_s || stepSeconds, true),
        h('div.spark-box.wide', {}, sparkline(w.series, w.step_s || stepSeconds, 'sparkline'),
          h('span.spark-legend', {}, h('span.key.delivered', {}, 'delivered'), h('span.key.failed', {}, 'failed'))),
        facts([
          ['events', describeEvents(w)],
          ['channels', describeChannels(w)],
          ['filters', describeFilters(w)],
          ['circuit', h('span', { cls: w.circuit === 'open' ? 'bad-text' : '', testid: 'circuit' }, w.circuit || '—')],
          ['signing', w.signing || '—'],
          ['lanes', count(w.lanes)],
          ['delivered', `${count((w.totals || {}).delivered || 0)} events, ${count((w.totals || {}).failed_attempts || 0)} failed attempts since start`],
        ], 'webhook-facts'),
        h('h2', {}, 'Recent deliveries ', h('span.muted.small', {}, `(the last ${deliveries.length} on this node, newest first)`)),
        deliveries.length ? deliveriesTable(app, id, deliveries) : empty('No deliveries yet.', 'no-deliveries'),
      ];
    },
  };

  // The attempts a row shows (the latest); the delivery's page has them all.
  const CHIPS = 6;
  const earlier = (d, attempts) => Math.max(d.attempt_count || 0, attempts.length) - Math.min(attempts.length, CHIPS);

  function deliveriesTable(app, webhook, deliveries) {
    return table(
      [{ label: 'delivery' }, { label: 'state' }, { label: 'events' }, { label: 'queued' },
        { label: 'attempts' }, { label: 'latency' }, { label: 'next attempt' }, { label: '' }],
      deliveries.map((d) => {
        const attempts = d.attempts || [];
        const last = attempts[attempts.length - 1];
        return {
          attrs: { testid: 'delivery-row', data: { deliveryId: d.id, state: d.state } },
          cells: [
            h('span.mono', { testid: 'delivery-id' }, d.id),
            stateBadge(d.state),
            count(d.events),
            when(d.enqueued_ms),
            h('span.attempts', { testid: 'delivery-attempts', data: { count: d.attempt_count || attempts.length } },
              earlier(d, attempts) ? h('span.muted', {}, `${count(earlier(d, attempts))} earlier,`) : null,
              attempts.length ? attempts.slice(-CHIPS).map((a) => h('span.chip', {
                cls: a.status >= 200 && a.status < 300 ? 'good' : 'bad', title: a.error || '',
              }, a.status ? String(a.status) : 'error')) : h('span.muted', {}, 'none yet')),
            last ? millis(last.latency_ms) : '—',
            nextAttempt(d.next_attempt_ms),
            h('a', { href: `${webhookHref(app, webhook)}/deliveries/${encodeURIComponent(d.id)}`, testid: 'payload-link' }, 'payload'),
          ],
        };
      }),
      { testid: 'deliveries' });
  }

  const deliveryView = {
    title: 'Delivery',
    shell(root, route) {
      const [app, webhook, id] = route.args;
      root.append(crumbs([['Overview', '#/'], [`app ${app}`, null], [webhook, webhookHref(app, webhook)], [id, null]]));
      return h('div', { testid: 'delivery-page' });
    },
    load: (route) => {
      const [app, webhook, id] = route.args;
      return api(`${webhookPath(app, webhook)}/deliveries/${encodeURIComponent(id)}`);
    },
    render(d) {
      const attempts = d.attempts || [];
      return [
        h('h1', {}, 'Delivery ', h('span.mono.wrap', {}, d.id), ' ', stateBadge(d.state)),
        facts([
          ['events', count(d.events)],
          ['attempts', count(d.attempt_count || attempts.length)],
          ['lane', count(d.lane)],
          ['queued', when(d.enqueued_ms)],
          ['next attempt', d.next_attempt_ms ? nextAttempt(d.next_attempt_ms) : null],
          ['dead letter', d.dead_letter !== null && d.dead_letter !== undefined
            ? h('a', { href: `#/dead-letters/${encodeURIComponent(d.dead_letter)}` }, `#${d.dead_letter}`) : null],
        ]),
        h('h2', {}, 'Attempts'),
        attempts.length ? attemptsTable(attempts) : empty('No attempt yet.'),
        h('h2', {}, 'Payload ', h('span.muted.small', {}, '(the events as delivered; headers and signatures are not kept)')),
        d.payload_truncated || d.payload === null || d.payload === undefined
          ? h('p.banner.warn', { testid: 'payload-not-kept' }, `The events of this delivery${d.payload_bytes ? ` (${count(d.payload_bytes)} bytes)` : ''} were too large to keep in the history.`)
          : h('pre.payload.scroll', { testid: 'payload' }, JSON.stringify(d.payload, null, 2)),
      ];
    },
  };

  function attemptsTable(attempts) {
    return table(
      [{ label: '#' }, { label: 'when' }, { label: 'status' }, { label: 'latency' }, { label: 'error', cls: 'grow' }],
      attempts.map((a, i) => ({
        attrs: { testid: 'attempt-row' },
        cells: [String(i + 1), when(a.at_ms),
          h('span.chip', { cls: a.status >= 200 && a.status < 300 ? 'good' : 'bad' }, a.status ? String(a.status) : 'error'),
          millis(a.latency_ms), a.error ? h('span.error-text', {}, a.error) : h('span.muted', {}, '—')],
      })),
      { testid: 'attempts' });
  }

  // Dead letters: the filter form stays (it is the shell); the list and its actions are live.
  const selected = new Set();
  let listed = []; // the ids on screen, for "select all"

  function dlqFilter(route) {
    const f = {};
    for (const k of ['app', 'webhook', 'reason']) if (route.params.get(k)) f[k] = route.params.get(k);
    return f;
  }

  const deadLettersView = {
    title: 'Dead letters',
    shell(root, route) {
      const f = dlqFilter(route);
      const select = (name, label, values) => h('label.field', {}, h('span', {}, label),
        h('select', { name, testid: `filter-${name}` }, h('option', { value: '' }, 'any'),
          values.map((v) => h('option', { value: v, selected: v === f[name] }, v))));
      const form = h('form.filters', { testid: 'dlq-filters' },
        select('app', 'app', f.app ? [f.app] : []),
        select('webhook', 'webhook', f.webhook ? [f.webhook] : []),
        select('reason', 'reason', REASONS),
        h('button.button', { type: 'submit', testid: 'filter-apply' }, 'Show'));
      form.addEventListener('submit', (e) => {
        e.preventDefault();
        const q = new URLSearchParams();
        for (const [k, v] of new FormData(form)) if (v) q.set(k, v);
        location.hash = `#/dead-letters${q.toString() ? `?${q}` : ''}`;
      });
      // The app and webhook choices come from the running config.
      api('/overview').then((data) => {
        const fill = (name, values) => {
          const el = form.elements[name];
          const have = new Set([...el.options].map((o) => o.value));
          for (const v of values) if (!have.has(v)) el.append(h('option', { value: v, selected: v === f[name] }, v));
        };
        fill('app', (data.apps || []).map((a) => a.id));
        fill('webhook', [...new Set((data.apps || []).flatMap((a) => (a.webhooks || []).map((w) => w.id)))]);
      }).catch(() => {});
      root.append(h('h1', {}, 'Dead letters'), form);
      return h('div', { testid: 'dead-letters' });
    },
    load(route) {
      const q = new URLSearchParams(dlqFilter(route));
      q.set('limit', '200');
      if (route.params.get('from')) q.set('from', route.params.get('from'));
      return api(`/dlq?${q}`);
    },
    render(data, route) {
      const letters = data.dead_letters || [];
      listed = letters.map((l) => l.id);
      for (const id of [...selected]) if (!listed.includes(id)) selected.delete(id);
      const filtered = Object.keys(dlqFilter(route)).length > 0;
      const all = filtered ? 'all matching' : 'all';
      const allChecked = letters.length > 0 && letters.every((l) => selected.has(l.id));
      const bar = h('div.action-bar', { testid: 'dlq-actions' },
        h('label.select-all', {}, h('input', { type: 'checkbox', testid: 'dead-letter-select-all', data: { action: 'select-all' }, checked: allChecked, disabled: !letters.length }),
          h('span.count', { testid: 'dlq-count' }, `${plural(letters.length, 'dead letter')}${data.next ? '+ (more on the next page)' : ''}${filtered ? ' matching' : ''}`)),
        h('span.spacer'),
        h('button.button', { type: 'button', testid: 'replay-selected', data: { action: 'replay-selected' }, disabled: !selected.size }, `Replay selected (${selected.size})`),
        h('button.button', { type: 'button', testid: 'purge-selected', data: { action: 'purge-selected' }, cls: 'danger-outline', disabled: !selected.size }, `Purge selected (${selected.size})`),
        h('button.button', { type: 'button', testid: 'replay-all', data: { action: 'replay-all' }, disabled: !letters.length }, `Replay ${all}`),
        h('button.button', { type: 'button', testid: 'purge-all', data: { action: 'purge-all' }, cls: 'danger-outline', disabled: !letters.length }, `Purge ${all}`));
      if (!letters.length) return [bar, empty(filtered ? 'No dead letters match.' : 'No dead letters. Everything accepted was delivered or is still being tried.', 'no-dead-letters')];
      const rows = letters.map((l) => ({
        attrs: { testid: 'dead-letter-row', data: { id: l.id, app: l.app, webhook: l.webhook, reason: l.reason } },
        cells: [
          h('span.pick', {},
            h('input', { type: 'checkbox', 'aria-label': `select dead letter ${l.id}`, testid: 'dead-letter-select', data: { action: 'select', id: l.id }, checked: selected.has(l.id) }),
            h('a', { href: `#/dead-letters/${l.id}`, testid: 'dead-letter-link' }, `#${l.id}`)),
          h('a', { href: webhookHref(l.app, l.webhook) }, `${l.app} / ${l.webhook}`),
          h('span.badge', { cls: `reason-${l.reason}` }, l.reason),
          count(l.events),
          when(l.dead_lettered_ms),
          count(l.attempts),
          h('span.error-text.clip', { title: l.last_error || l.detail || '' }, l.last_error || l.detail || '—'),
        ],
      }));
      const out = [bar, table(
        [{ label: 'id' }, { label: 'webhook' }, { label: 'reason' }, { label: 'events' },
          { label: 'dead-lettered' }, { label: 'attempts' }, { label: 'last error', cls: 'grow' }],
        rows, { testid: 'dead-letter-list' })];
      if (data.next) {
        const q = new URLSearchParams(dlqFilter(route));
        q.set('from', data.next);
        out.push(h('p', {}, h('a', { href: `#/dead-letters?${q}`, testid: 'dlq-next' }, 'Next page')));
      }
      return out;
    },
  };

  // What "all" means on the list: the filter shown, or every dead letter.
  function currentSelection(kind) {
    if (kind === 'selected') return { ids: [...selected] };
    const f = dlqFilter(current.route);
    return Object.keys(f).length ? f : { all: true };
  }

  function dlqAction(verb, kind) {
    const body = currentSelection(kind);
    const n = kind === 'selected' ? selected.size : listed.length;
    const what = kind === 'selected' ? plural(n, 'selected dead letter')
      : body.all ? `all ${plural(n, 'dead letter')}` : `all ${plural(n, 'dead letter')} matching ${Object.entries(body).map(([k, v]) => `${k} ${v}`).join(', ')}`;
    const replay = verb === 'replay';
    act({
      title: replay ? 'Replay dead letters' : 'Purge dead letters',
      message: replay
        ? `Replay ${what}? Their events are queued again to their webhooks as configured now, as new deliveries.`
        : `Purge ${what}? Their events are deleted for good.`,
      ok: replay ? 'Replay' : 'Purge',
      danger: !replay,
      path: `/dlq/${verb}`,
      body,
      done: (r) => {
        if (kind === 'selected') selected.clear();
        return replay ? replayed(r) : `Purged ${plural(r.purged, 'dead letter')}.`;
      },
    });
  }

  function replayed(report) {
    const n = Array.isArray(report.replayed) ? report.replayed.length : report.replayed;
    const skipped = Array.isArray(report.skipped) ? report.skipped.length : report.skipped;
    const why = Array.isArray(report.skipped) && report.skipped.length ? ` (#${report.skipped[0].id}: ${report.skipped[0].reason})` : '';
    return `Replayed ${plural(n || 0, 'dead letter')}${skipped ? `; ${count(skipped)} skipped${why}` : ''}. They show as new deliveries on their webhook's page.`;
  }

  const deadLetterView = {
    title: 'Dead letter',
    shell(root, route) {
      root.append(crumbs([['Dead letters', '#/dead-letters'], [`#${route.args[0]}`, null]]));
      return h('div', { testid: 'dead-letter-page' });
    },
    load: (route) => api(`/dlq/${encodeURIComponent(route.args[0])}`),
    render(l) {
      return [
        h('div.page-head', {},
          h('h1', {}, `Dead letter #${l.id} `, h('span.badge', { cls: `reason-${l.reason}` }, l.reason)),
          h('div.head-actions', {},
            h('button.button.primary', { type: 'button', testid: 'replay-one', data: { action: 'replay-one', id: l.id } }, 'Replay'),
            h('button.button.danger-outline', { type: 'button', testid: 'purge-one', data: { action: 'purge-one', id: l.id } }, 'Purge'))),
        l.last_error || l.detail ? h('section.banner.bad', { testid: 'last-error' },
          h('strong', {}, 'Last error: '), h('span.error-text', {}, l.last_error || l.detail)) : null,
        facts([
          ['webhook', h('a', { href: webhookHref(l.app, l.webhook) }, `${l.app} / ${l.webhook}`)],
          ['reason', l.detail ? `${l.reason}: ${l.detail}` : l.reason],
          ['events', count(Array.isArray(l.events) ? l.events.length : l.events)],
          ['accepted', when(l.enqueued_ms)],
          ['dead-lettered', when(l.dead_lettered_ms)],
          ['delivery id', l.delivery_id ? h('span.mono', {}, l.delivery_id) : null],
          ['attempts', count(l.attempts), 'dead-letter-attempts'],
          ['first attempt', when(l.first_attempt_ms)],
          ['last attempt', when(l.last_attempt_ms)],
        ], 'dead-letter-facts'),
        h('h2', {}, 'Events'),
        h('pre.payload.scroll', { testid: 'dead-letter-events' }, JSON.stringify(l.events, null, 2)),
      ];
    },
  };

  function dlqOneAction(verb, id) {
    const replay = verb === 'replay';
    const back = current.lastData ? `#/dead-letters?app=${encodeURIComponent(current.lastData.app)}&webhook=${encodeURIComponent(current.lastData.webhook)}` : '#/dead-letters';
    act({
      title: replay ? `Replay dead letter #${id}` : `Purge dead letter #${id}`,
      message: replay
        ? 'Its events are queued again to the webhook as configured now, as a new delivery.'
        : 'Its events are deleted for good.',
      ok: replay ? 'Replay' : 'Purge',
      danger: !replay,
      path: `/dlq/${verb}`,
      body: { ids: [Number(id)] },
      done: (r) => {
        location.hash = back;
        return replay ? replayed(r) : `Purged ${plural(r.purged, 'dead letter')}.`;
      },
    });
  }

  const filtersView = {
    title: 'Filters',
    shell(root) {
      root.append(h('h1', {}, 'Filters'), h('p.muted', {}, 'The WebAssembly modules each webhook runs, with their calls since they were loaded.'));
      return h('div', { testid: 'filters' });
    },
    load: () => api('/filters'),
    render(data) {
      const filters = data.filters || [];
      if (!filters.length) return empty('No filters in the running config.', 'no-filters');
      return table(
        [{ label: 'webhook' }, { label: 'filter' }, { label: 'module' }, { label: 'loaded' }, { label: 'load / compile' },
          { label: 'calls' }, { label: 'failures' }, { label: 'dropped' }, { label: 'mean' }, { label: 'p99' }],
        filters.map((f) => ({
          attrs: { testid: 'filter-row', data: { name: f.name } },
          cells: [h('a', { href: webhookHref(f.app, f.webhook) }, `${f.app} / ${f.webhook}`),
            h('strong', {}, f.name),
            h('span.mono', { title: `${f.module_hash || ''} ${f.origin || ''}` }, shortHash(f.module_hash)),
            when(f.loaded_at_ms),
            `${millis(f.load_ms)} / ${millis(f.module_ms)}`,
            count(f.calls),
            h('span', { cls: f.failures ? 'bad-text' : '' }, count(f.failures)),
            count(f.dropped),
            millis(f.mean_ms), millis(f.p99_ms)],
        })),
        { testid: 'filter-list' });
    },
  };

  const auditView = {
    title: 'Admin actions',
    shell(root) {
      root.append(h('h1', {}, 'Admin actions'), h('p.muted', {}, 'Pauses, resumes, replays, purges and reloads on this node, newest first.'));
      return h('div', { testid: 'audit' });
    },
    load: () => api('/audit'),
    render(data) {
      const actions = data.actions || [];
      if (!actions.length) return empty('No admin actions yet.', 'no-actions');
      return table(
        [{ label: 'when' }, { label: 'action' }, { label: 'target' }, { label: 'detail', cls: 'grow' }, { label: 'by' }],
        actions.map((a) => ({
          attrs: { testid: 'audit-row', data: { action: a.action, target: a.target, by: a.by } },
          cells: [when(a.at_ms), h('span.badge', { cls: `action-${a.action}` }, a.action), h('span.mono', {}, a.target || '—'),
            a.detail || '—', a.by || '—'],
        })),
        { testid: 'audit-list' });
    },
  };

  const notFoundView = {
    title: 'Not found',
    shell(root) {
      root.append(h('h1', {}, 'Nothing here'), h('p', {}, h('a', { href: '#/' }, 'Back to the overview')));
      return null;
    },
  };

  function crumbs(items) {
    return h('nav.crumbs', { 'aria-label': 'breadcrumb', testid: 'crumbs' },
      items.map(([label, href], i) => [i ? h('span.sep', {}, '/') : null, href ? h('a', { href }, label) : h('span', {}, label)]));
  }

  // ---- routing and the live loop ----------------------------------------------------------

  function parseRoute() {
    const raw = location.hash.replace(/^#/, '') || '/';
    const [path, query] = raw.split('?');
    const parts = path.split('/').filter(Boolean).map((p) => { try { return decodeURIComponent(p); } catch (e) { return p; } });
    const params = new URLSearchParams(query || '');
    const route = (name, v, args) => ({ name, view: v, args: args || [], params });
    if (!parts.length) return route('overview', overviewView);
    if (parts[0] === 'webhooks' && parts.length === 3) return route('webhook', webhookView, parts.slice(1));
    if (parts[0] === 'webhooks' && parts.length === 5 && parts[3] === 'deliveries') {
      return route('delivery', deliveryView, [parts[1], parts[2], parts[4]]);
    }
    if (parts[0] === 'dead-letters' && parts.length === 1) return route('dead-letters', deadLettersView);
    if (parts[0] === 'dead-letters' && parts.length === 2) return route('dead-letter', deadLetterView, [parts[1]]);
    if (parts[0] === 'filters' && parts.length === 1) return route('filters', filtersView);
    if (parts[0] === 'audit' && parts.length === 1) return route('audit', auditView);
    return route('not-found', notFoundView);
  }

  let current = null; // {route, live, lastData, loaded}
  let generation = 0;
  let timer = null;
  let inFlight = false;
  let again = false;

  function navigate() {
    generation += 1;
    const route = parseRoute();
    const nav = route.name === 'dead-letter' ? 'dead-letters' : route.name;
    for (const a of document.querySelectorAll('.nav a')) a.classList.toggle('active', a.dataset.route === nav);
    document.title = `${route.view.title} · Switchyard console`;
    const root = h('div.page', { data: { route: route.name } });
    const live = route.view.shell(root, route);
    if (live) {
      live.classList.add('live-part');
      live.append(h('p.muted.loading', {}, 'Loading…'));
      root.append(live);
    }
    view.replaceChildren(root);
    if (current === null || current.route.name !== route.name) window.scrollTo(0, 0);
    current = { route, live, lastData: null, loaded: false };
    if (live) schedule(0);
  }

  function schedule(delay) {
    clearTimeout(timer);
    if (!signedOut) timer = setTimeout(tick, delay);
  }

  function refreshNow() {
    schedule(0);
  }

  async function tick() {
    if (inFlight) { again = true; return; }
    inFlight = true;
    const gen = generation;
    const page = current;
    try {
      const data = await page.route.view.load(page.route);
      if (gen === generation) {
        page.lastData = data;
        page.loaded = true;
        swap(page.live, page.route.view.render(data, page.route));
        setLive('live', 'live');
      }
    } catch (e) {
      if (gen === generation && e.status !== 401) {
        if (!page.loaded || e.status === 404) {
          swap(page.live, h('p.banner.bad', { testid: 'view-error', role: 'alert' },
            e.status === 404 ? `Not found: ${e.message}` : `Could not load this page: ${e.message}`));
        }
        setLive('error', e.status ? `error ${e.status}` : 'reconnecting…');
      }
    } finally {
      inFlight = false;
    }
    if (signedOut) return;
    if (again || gen !== generation) {
      again = false;
      schedule(0);
    } else {
      schedule(POLL_MS);
    }
  }

  // Puts freshly drawn content in place, keeping what the reader did: the scroll position of
  // boxes that scroll, and the focused control.
  function swap(live, content) {
    const fresh = h('div', {}, content);
    if (fresh.innerHTML === live.innerHTML) return;
    const scrolls = [...live.querySelectorAll('.scroll')].map((el) => [el.dataset.testid, el.scrollLeft, el.scrollTop]);
    const focused = document.activeElement && live.contains(document.activeElement) ? document.activeElement.dataset.testid : null;
    live.replaceChildren(...fresh.childNodes);
    for (const [testid, left, top] of scrolls) {
      const el = testid && live.querySelector(`.scroll[data-testid="${CSS.escape(testid)}"]`);
      if (el) { el.scrollLeft = left; el.scrollTop = top; }
    }
    if (focused) {
      const el = live.querySelector(`[data-testid="${CSS.escape(focused)}"]`);
      if (el) el.focus({ preventScroll: true });
    }
  }

  // Clicks and changes on the live parts, delegated (the live parts are redrawn).
  document.addEventListener('click', (e) => {
    const target = e.target.closest('[data-action]');
    if (!target || target.disabled) return;
    const { action, id } = target.dataset;
    const route = current && current.route;
    switch (action) {
      case 'pause':
      case 'resume': {
        const [app, webhook] = route.args;
        const pause = action === 'pause';
        act({
          title: pause ? `Pause ${app} / ${webhook}` : `Resume ${app} / ${webhook}`,
          message: pause
            ? 'Its deliveries are held: nothing is sent to its target until it is resumed. Ingest still accepts its events, which wait in the queue. The pause is recorded in the admin actions.'
            : 'Its held deliveries are released, in order. The resume is recorded in the admin actions.',
          ok: pause ? 'Pause' : 'Resume',
          danger: pause,
          path: `${webhookPath(app, webhook)}/${action}`,
          body: {},
          done: (r) => (r && r.paused ? `Paused ${app} / ${webhook}.` : `Resumed ${app} / ${webhook}.`),
        });
        break;
      }
      case 'replay-selected': dlqAction('replay', 'selected'); break;
      case 'purge-selected': dlqAction('purge', 'selected'); break;
      case 'replay-all': dlqAction('replay', 'all'); break;
      case 'purge-all': dlqAction('purge', 'all'); break;
      case 'replay-one': dlqOneAction('replay', id); break;
      case 'purge-one': dlqOneAction('purge', id); break;
      default: return;
    }
  });

  document.addEventListener('change', (e) => {
    const { action, id } = e.target.dataset || {};
    if (action === 'select') {
      if (e.target.checked) selected.add(Number(id)); else selected.delete(Number(id));
    } else if (action === 'select-all') {
      for (const lid of listed) if (e.target.checked) selected.add(lid); else selected.delete(lid);
    } else {
      return;
    }
    // Redraw from the data we have, so the counts on the buttons follow at once.
    if (current && current.lastData) swap(current.live, current.route.view.render(current.lastData, current.route));
  });

  document.querySelector('[data-testid="sign-out"]').addEventListener('click', async () => {
    try {
      await fetch('/console/logout', { method: 'POST', credentials: 'same-origin', headers: { 'X-Switchyard-CSRF': CSRF } });
    } finally {
      location.href = '/';
    }
  });

  window.addEventListener('hashchange', navigate);
  navigate();
})();
