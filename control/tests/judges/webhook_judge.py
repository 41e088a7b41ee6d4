"""Verifies webhook messages with the Standard Webhooks reference library.

  webhook_judge.py SECRET FILE
FILE holds JSON lines {"headers": {...}, "body": "<raw body>"}; every message must verify.
Prints each verified message's type, one per line. A tampered copy of each must fail.
"""
import json
import sys

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

secret, path = sys.argv[1], sys.argv[2]
hook = Webhook(secret)
for line in open(path):
    msg = json.loads(line)
    payload = hook.verify(msg["body"], msg["headers"])
    try:
        hook.verify(msg["body"] + " ", msg["headers"])
    except WebhookVerificationError:
        pass
    else:
        sys.exit("a tampered body verified")
    print(payload["type"])
