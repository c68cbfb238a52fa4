"""The baseline web handler: bare Flask that reads the POST body and answers 200.

Served by gunicorn with the same settings as the real app (`bench/support/procs.gunicorn`),
so the ingress ratio isolates what our `POST /telegram` adds: the secret check, JSON
validation, PTB's shape check and the Redis Lua script (SET NX + XADD).
"""

from __future__ import annotations

from flask import Flask
from flask import request

app = Flask(__name__)


@app.post("/telegram")
def receive() -> tuple[str, int]:
    request.get_data()
    return "", 200
