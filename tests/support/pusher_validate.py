"""Validates webhooks with Pusher's official Python SDK, as a receiver's backend would.

Reads JSON lines {"key", "secret", "signature", "body"} on stdin and prints one line per
input: "valid" or "invalid: <reason>". pusher's validate_webhook also refuses a webhook whose
time_ms is more than 5 minutes from the local clock.
"""
import json
import sys

import pusher

for line in sys.stdin:
    item = json.loads(line)
    client = pusher.Pusher(app_id="1", key=item["key"], secret=item["secret"])
    try:
        result = client.validate_webhook(item["key"], item["signature"], item["body"])
        print("valid" if result is not None else "invalid: validate_webhook returned None")
    except Exception as e:  # the SDK raises on malformed input; report it as invalid
        print(f"invalid: {e}")
    sys.stdout.flush()
