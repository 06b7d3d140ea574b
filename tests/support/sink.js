// A real HTTP receiver for end-to-end tests: listens on a free loopback port, prints
// `listening <port>` on stdout, then one JSON line per request received:
//   {"path", "headers", "body_base64", "status", "received_ms", "signature_ok"?, "pusher_sdk_valid"?}
// SINK_PORT picks the port (default: any free one).
//
// Paths choose the answer: /status/<code> answers that code, /slow/<ms> waits first; anything
// else answers 200 unless a behaviour was set for it. A behaviour is set (and replaced) with
//   PUT /__behaviour?path=<path>  {"status": 503, "times": 3, "retry_after": "2", "match": "text"}
// the next `times` requests to <path> (every one when `times` is absent) whose body contains
// `match` (any body when absent) get `status`, with `Retry-After` when given; the others 200.
// DELETE /__behaviour?path=<path> removes it. These control requests are not printed.
//
// With SINK_SECRET set, it also checks X-Pusher-Signature the way receivers in the wild do:
// HMAC(secret, JSON.stringify(JSON.parse(body))), and, with SINK_KEY too, with Pusher's own
// Node SDK (`pusher.webhook(req).isValid()`).
'use strict';
const http = require('http');
const crypto = require('crypto');
const path = require('path');

const secret = process.env.SINK_SECRET;
const key = process.env.SINK_KEY;
const pusher = secret && key
  ? new (require(path.join(__dirname, '..', 'node', 'node_modules', 'pusher')))({ appId: '1', key, secret })
  : null;

const behaviours = new Map();

function control(req, res, body) {
  const url = new URL(req.url, 'http://sink');
  const target = url.searchParams.get('path');
  if (req.method === 'PUT') behaviours.set(target, JSON.parse(body.toString('utf8')));
  else behaviours.delete(target);
  res.end('ok');
}

// The status (and Retry-After) a request to `url` with `body` gets.
function answerFor(url, body) {
  const [, kind, arg] = url.split('/');
  if (kind === 'status') return { status: Number(arg) };
  const b = behaviours.get(url);
  if (!b || (b.match && !body.includes(b.match))) return { status: 200 };
  if (b.times !== undefined && b.times !== null) {
    if (b.times <= 0) return { status: 200 };
    b.times -= 1;
  }
  return { status: b.status, retryAfter: b.retry_after };
}

const server = http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const body = Buffer.concat(chunks);
    if (req.url.startsWith('/__behaviour')) return control(req, res, body);
    const text = body.toString('utf8');
    const { status, retryAfter } = answerFor(req.url, text);
    const record = {
      path: req.url, method: req.method, headers: req.headers, body_base64: body.toString('base64'),
      status, received_ms: Date.now(),
    };
    if (secret) {
      try {
        const reserialized = JSON.stringify(JSON.parse(text));
        const hmac = crypto.createHmac('sha256', secret).update(reserialized).digest('hex');
        record.signature_ok = hmac === req.headers['x-pusher-signature'];
      } catch (e) {
        record.signature_ok = false;
      }
    }
    if (pusher) {
      record.pusher_sdk_valid = pusher.webhook({ headers: req.headers, rawBody: text }).isValid();
    }
    const [, kind, arg] = req.url.split('/');
    const answer = () => {
      process.stdout.write(JSON.stringify(record) + '\n');
      res.statusCode = status;
      if (retryAfter !== undefined) res.setHeader('Retry-After', retryAfter);
      res.end(status === 200 ? 'ok' : `sink says ${status}`);
    };
    if (kind === 'slow') setTimeout(answer, Number(arg)); else answer();
  });
});

server.listen(Number(process.env.SINK_PORT || 0), '127.0.0.1', () => {
  process.stdout.write(`listening ${server.address().port}\n`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
