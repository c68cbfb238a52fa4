"""The public ledger API: checkpoint, key, blocks, entries and proofs, as JSON or text.

Shapes (shared with `python -m ledger verify --url`):
- `GET /ledger/checkpoint` -> text/plain signed checkpoint (C2SP tlog-checkpoint)
- `GET /ledger/vkey` -> text/plain note verifier key
- `GET /ledger/blocks?start=&limit=` -> {"blocks":[{number,start,end,root,checkpoint,sealed_at}],
  "next": <start of the next page or null>}
- `GET /ledger/entries?start=&end=` -> {"start":s,"entries":["<leaf json>",...]} (end exclusive,
  at most MAX_ENTRIES per answer; ask again from start+len for the rest)
- `GET /ledger/proof/inclusion?index=&size=` -> {"index","size","leaf_hash","path":[hex...]}
- `GET /ledger/proof/consistency?from=&to=` -> {"from","to","path":[hex...]}
Errors are JSON {"code","message"}. Everything below a sealed tree size never changes, so it is
served as immutable; the rest for a few seconds. Each client IP gets a token bucket in Redis.
"""

from __future__ import annotations

import time
from typing import Any
from typing import cast

import redis
import structlog
from flask import Blueprint
from flask import Response
from flask import jsonify
from flask import request

from ledger import api
from ledger.errors import LedgerError
from ledger.errors import OutOfRange
from webhook.app import deps

bp = Blueprint("ledger_api", __name__, url_prefix="/ledger")
log = structlog.get_logger("webhook.ledger_api")

MAX_ENTRIES = 1000  # ledger.Ledger.entries pages at 1,000 too
MAX_BLOCKS = 100
IMMUTABLE = "public, max-age=31536000, immutable"
SHORT = "public, max-age=5"

# Token bucket: capacity = rate per minute, refilled continuously. Returns 1 when allowed.
_BUCKET = """
local rate = tonumber(ARGV[1]) / 60000.0
local cap = tonumber(ARGV[1])
local now = tonumber(ARGV[2])
local state = redis.call('HMGET', KEYS[1], 't', 'n')
local t = tonumber(state[1]) or now
local n = tonumber(state[2]) or cap
n = math.min(cap, n + (now - t) * rate)
local ok = 0
if n >= 1 then n = n - 1; ok = 1 end
redis.call('HSET', KEYS[1], 't', now, 'n', n)
redis.call('PEXPIRE', KEYS[1], 120000)
return ok
"""


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


@bp.errorhandler(ApiError)
def _api_error(err: ApiError) -> Response:
    response = jsonify(code=err.code, message=err.message)
    response.status_code = err.status
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.errorhandler(LedgerError)
def _ledger_error(err: LedgerError) -> Response:
    status = 404 if isinstance(err, OutOfRange) else 400
    return _api_error(ApiError(status, type(err).__name__.lower(), str(err)))


@bp.before_request
def _rate_limit() -> Response | None:
    d = deps()
    client = request.remote_addr or "unknown"
    try:
        script = d.redis.register_script(_BUCKET)
        allowed = script(
            keys=[d.inbox.layout.key(f"ratelimit:{client}")],
            args=[d.api_rate_per_minute, int(time.time() * 1000)],
        )
    except redis.RedisError:
        return None  # fail open: the public read API outlives a Redis outage
    if allowed:
        return None
    response = jsonify(code="rate_limited", message="too many requests; slow down")
    response.status_code = 429
    response.headers["Retry-After"] = "1"
    return response


def _int_arg(name: str, *, default: int | None = None, low: int = 0) -> int:
    raw = request.args.get(name)
    if raw is None or raw == "":
        if default is None:
            raise ApiError(400, "missing_parameter", f"{name} is required")
        return default
    if not raw.isdigit() or len(raw) > 18:
        raise ApiError(400, "bad_parameter", f"{name} must be a non-negative integer")
    value = int(raw)
    if value < low:
        raise ApiError(400, "bad_parameter", f"{name} must be at least {low}")
    return value


def _sealed_size() -> int:
    checkpoint = deps().ledger.checkpoint()
    return int(checkpoint.size) if checkpoint is not None else 0


def _cached(response: Response, *, immutable: bool) -> Response:
    response.headers["Cache-Control"] = IMMUTABLE if immutable else SHORT
    response.headers["Access-Control-Allow-Origin"] = "*"
    response.add_etag()
    return cast(Response, response.make_conditional(request))


def _text(body: str, *, immutable: bool = False) -> Response:
    response = Response(body, mimetype="text/plain")  # Flask adds "; charset=utf-8"
    return _cached(response, immutable=immutable)


def _json(payload: dict[str, Any], *, immutable: bool) -> Response:
    return _cached(jsonify(payload), immutable=immutable)


def block_json(block: Any) -> dict[str, Any]:
    """Return the public JSON of one block (the same shape as ledger.api.blocks_body)."""
    return {
        "number": block.number,
        "start": block.start,
        "end": block.end,
        "root": block.root.hex(),
        "checkpoint": block.checkpoint_text,
        "sealed_at": block.sealed_at.isoformat().replace("+00:00", "Z"),
    }


@bp.get("/checkpoint")
def checkpoint() -> Response:
    """Return the newest signed checkpoint."""
    text = api.checkpoint_text(deps().ledger)
    if text is None:
        raise ApiError(404, "no_checkpoint", "no block has been sealed yet")
    return _text(text)


@bp.get("/vkey")
def vkey() -> Response:
    """Return the note verifier keys: the first key, then each key rotated to, one a line."""
    response = _text(api.vkey_text(deps().ledger))
    response.headers["Cache-Control"] = "public, max-age=300"
    return response


@bp.get("/blocks")
def blocks() -> Response:
    """Return a page of sealed blocks, oldest first, from block number `start` (from 1).

    With `index`, return only the block that sealed that entry (none while unsealed).
    """
    if request.args.get("index") is not None:
        found = deps().ledger.block_of(_int_arg("index"))
        return _json({"blocks": [block_json(found)] if found else [], "next": None},
                     immutable=found is not None)  # fmt: skip
    start = _int_arg("start", default=1)
    limit = min(_int_arg("limit", default=MAX_BLOCKS, low=1), MAX_BLOCKS)
    found = api.blocks_body(deps().ledger, start, limit + 1)["blocks"]
    assert isinstance(found, list)
    page: list[Any] = found[:limit]
    more = len(found) > limit
    payload = {"blocks": page, "next": page[-1]["number"] + 1 if more else None}
    return _json(payload, immutable=more)


@bp.get("/entries")
def entries() -> Response:
    """Return leaves [start, end) exactly as hashed, at most MAX_ENTRIES of them."""
    start = _int_arg("start")
    end = _int_arg("end")
    size = deps().ledger.size()
    if end <= start:
        raise ApiError(400, "bad_range", "end must be greater than start")
    if end > size:
        raise ApiError(404, "beyond_size", f"the ledger has {size} entries")
    end = min(end, start + MAX_ENTRIES)
    payload = api.entries_body(deps().ledger, start, end)
    return _json(payload, immutable=end <= _sealed_size())


@bp.get("/proof/inclusion")
def inclusion() -> Response:
    """Return the RFC 9162 inclusion proof of entry `index` in the tree of `size` entries."""
    index = _int_arg("index")
    size = _int_arg("size", low=1)
    current = deps().ledger.size()
    if size > current:
        raise ApiError(404, "beyond_size", f"the ledger has {current} entries")
    if index >= size:
        raise ApiError(400, "bad_range", "index must be less than size")
    payload = api.inclusion_body(deps().ledger, index, size)
    return _json(payload, immutable=size <= _sealed_size())


@bp.get("/proof/consistency")
def consistency() -> Response:
    """Return the RFC 9162 consistency proof between tree sizes `from` and `to`."""
    old = _int_arg("from", low=1)
    new = _int_arg("to", low=1)
    current = deps().ledger.size()
    if new > current:
        raise ApiError(404, "beyond_size", f"the ledger has {current} entries")
    if old > new:
        raise ApiError(400, "bad_range", "from must not exceed to")
    payload = api.consistency_body(deps().ledger, old, new)
    return _json(payload, immutable=new <= _sealed_size())
