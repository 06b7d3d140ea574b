"""A real HTTP receiver that verifies every request with the official Standard Webhooks library
(PyPI `standardwebhooks`), as a receiver's backend would: `Webhook(secret).verify(body, headers)`
over the raw body bytes.

Listens on 127.0.0.1 (RECEIVER_PORT, default any free port), prints `listening <port>`, then one
JSON line per request, written before it is answered:
  {"path", "headers", "body_base64", "status", "received_ms", "standard_webhooks"}
where `standard_webhooks` is "valid" or the library's reason for refusing the request.
A refused request gets 401. A valid one gets 200, except under /fail-once/: the first request
with a given webhook-id gets 503 (so the sender retries it).

The secret (`whsec_...`) comes from WEBHOOK_SECRET.
"""
import base64
import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks import Webhook, WebhookVerificationError

webhook = Webhook(os.environ["WEBHOOK_SECRET"])
seen_ids = set()
lock = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        headers = {}
        for name, value in self.headers.items():
            name = name.lower()
            # Repeated headers joined as Node.js joins them, so a repeat shows.
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
        try:
            webhook.verify(body, headers)
            verdict = "valid"
        except WebhookVerificationError as e:
            verdict = str(e)
        status = 401
        if verdict == "valid":
            status = 200
            if self.path.startswith("/fail-once/"):
                with lock:
                    first = headers["webhook-id"] not in seen_ids
                    seen_ids.add(headers["webhook-id"])
                status = 503 if first else 200
        record = {
            "path": self.path,
            "headers": headers,
            "body_base64": base64.b64encode(body).decode(),
            "status": status,
            "received_ms": int(time.time() * 1000),
            "standard_webhooks": verdict,
        }
        with lock:
            sys.stdout.write(json.dumps(record) + "\n")
            sys.stdout.flush()
        answer = b"ok" if status == 200 else verdict.encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, format, *args):
        pass  # stdout carries the records only


server = ThreadingHTTPServer(("127.0.0.1", int(os.environ.get("RECEIVER_PORT", "0"))), Handler)
sys.stdout.write(f"listening {server.server_address[1]}\n")
sys.stdout.flush()
server.serve_forever()
