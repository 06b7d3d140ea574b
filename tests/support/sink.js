// A real HTTP receiver for end-to-end tests: listens on a free loopback port, prints
// `listening <port>` on stdout, then one JSON line per request received:
//   {"path", "headers", "body_base64", "signature_ok"?}
// SINK_PORT picks the port (default: any free one).
// Paths choose the answer: /status/<code> answers that code, /slow/<ms> waits first;
// anything else answers 200. With SINK_SECRET set, it also checks X-Pusher-Signature the way
// receivers in the wild do: HMAC(secret, JSON.stringify(JSON.parse(body))), and, with
// SINK_KEY too, with Pusher's own Node SDK (`pusher.webhook(req).isValid()`).
'use strict';
const http = require('http');
const crypto = require('crypto');
const path = require('path');

const secret = process.env.SINK_SECRET;
const key = process.env.SINK_KEY;
const pusher = secret && key
  ? new (require(path.join(__dirname, '..', 'node', 'node_modules', 'pusher')))({ appId: '1', key, secret })
  : null;

const server = http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const body = Buffer.concat(chunks);
    const record = { path: req.url, method: req.method, headers: req.headers, body_base64: body.toString('base64') };
    if (secret) {
      try {
        const reserialized = JSON.stringify(JSON.parse(body.toString('utf8')));
        const hmac = crypto.createHmac('sha256', secret).update(reserialized).digest('hex');
        record.signature_ok = hmac === req.headers['x-pusher-signature'];
      } catch (e) {
        record.signature_ok = false;
      }
    }
    if (pusher) {
      record.pusher_sdk_valid = pusher.webhook({ headers: req.headers, rawBody: body.toString('utf8') }).isValid();
    }
    const [, kind, arg] = req.url.split('/');
    const answer = () => {
      process.stdout.write(JSON.stringify(record) + '\n');
      res.statusCode = kind === 'status' ? Number(arg) : 200;
      res.end(kind === 'status' ? `sink says ${arg}` : 'ok');
    };
    if (kind === 'slow') setTimeout(answer, Number(arg)); else answer();
  });
});

server.listen(Number(process.env.SINK_PORT || 0), '127.0.0.1', () => {
  process.stdout.write(`listening ${server.address().port}\n`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
