"""The update inbox: Redis Streams partitioned by chat id, shared by ingress and workers.

Layout (all keys under an optional prefix):
- `updates:{p}` for p in 0..N-1: one stream per partition; field `u` holds the raw update
  JSON exactly as Telegram sent it. `p = crc32(str(chat_id)) % N`, so one chat's updates
  always land in the same stream, in arrival order. Updates with no chat go to partition 0.
- `updates:seen:<update_id>`: set with NX and a 24 h expiry in the same Lua script as the
  XADD, so a duplicate is dropped and an update is never marked seen without being stored.
- consumer group `workers` on every partition stream (created by ingress and by workers).
  Workers XACK and XDEL an entry once it is applied, so streams hold only the backlog and
  are never trimmed (trimming could drop updates that were not processed yet).
- An entry's received time is its stream id's time (Redis's clock at the XADD), except for an
  update an operator replayed from the dead letters (gateway/deadletters.py): that entry also
  has field `t`, the time ingress first received the update (epoch ms), and is listed in the
  sorted set `updates:replayed` (score `t`, member `<stream> <entry id>`) until it leaves its
  stream. Only the dead-letter path writes `t` (the worker's DEAD script, the REPLAY script);
  ingress stores field `u` alone, whatever the update holds (`received_ms`).
- `updates:dead`: the updates the workers gave up on (gateway/worker.py), fields `u`, `r` (the
  reason) and `t` (as above; entries dead-lettered before it existed have none).

Redis must persist (AOF, `appendfsync everysec` or `always`) for "200 means stored" to hold
across a Redis restart; the embedded Redis is started that way.

`Inbox.put_once` is on the ingress' hot path (thousands a second): it sends a hand-packed
EVALSHA on connections it keeps (taken once from the client's pool, so TLS, a unix socket,
AUTH and SELECT work as with the client, and closing the client closes them) instead of
going through redis-py's command layer, pool lock and per-checkout socket probe, which cost
about as much CPU as the rest of a request. A connection that failed is disconnected.
"""

from __future__ import annotations

import hashlib
import json
import os
import zlib
from collections.abc import Mapping
from typing import Any

import redis
from redis.connection import Connection

GROUP = "workers"
SEEN_SECONDS = 86_400
RECEIVED_COUNTER = "metrics:updates_received"
PROCESSED_COUNTER = "metrics:updates_processed"
DEAD_STREAM = "updates:dead"
REPLAYED = "updates:replayed"

_PUT_ONCE = """
if redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[2]) then
  redis.call('INCR', KEYS[3])
  return redis.call('XADD', KEYS[2], '*', 'u', ARGV[1])
end
return false
"""
_PUT_ONCE_SHA = hashlib.sha1(_PUT_ONCE.encode()).hexdigest().encode()
_SEEN_SECONDS = str(SEEN_SECONDS).encode()


def _pack(*args: bytes) -> bytes:
    """Return one Redis command in RESP (an array of bulk strings)."""
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        parts += (b"$%d\r\n" % len(arg), arg, b"\r\n")
    return b"".join(parts)


def chat_id_of(update: Mapping[str, Any]) -> int | None:
    """Return the chat id an update belongs to, or None (inline queries, polls, ...)."""
    for kind, value in update.items():
        if kind == "update_id" or not isinstance(value, dict):
            continue
        chat = value.get("chat")
        if isinstance(chat, dict) and isinstance(chat.get("id"), int):
            return int(chat["id"])
        message = value.get("message")  # callback_query.message.chat
        if isinstance(message, dict) and isinstance(message.get("chat"), dict):
            chat_id = message["chat"].get("id")
            if isinstance(chat_id, int):
                return chat_id
        sender = value.get("from")  # inline_query, pre_checkout_query: private chat id = user id
        if isinstance(sender, dict) and isinstance(sender.get("id"), int):
            return int(sender["id"])
    return None


class StreamLayout:
    """Key names and partitioning of the inbox; identical in ingress and workers."""

    def __init__(self, partitions: int, prefix: str = "") -> None:
        if partitions < 1:
            raise ValueError("partitions must be >= 1")
        self.partitions = partitions
        self.prefix = prefix

    def partition_of(self, chat_id: int | None) -> int:
        """Return the partition of a chat (crc32, stable across processes and restarts)."""
        if chat_id is None:
            return 0
        return zlib.crc32(str(chat_id).encode()) % self.partitions

    def stream(self, partition: int) -> str:
        return f"{self.prefix}updates:{partition}"

    def seen(self, update_id: int) -> str:
        return f"{self.prefix}updates:seen:{update_id}"

    def key(self, name: str) -> str:
        """Return any other key of the runtime (leases, counters, dead letters) under the prefix."""
        return f"{self.prefix}{name}"

    def streams(self) -> list[str]:
        return [self.stream(p) for p in range(self.partitions)]


class Inbox:
    """Append raw updates to their chat's stream, at most once per update_id."""

    def __init__(self, client: redis.Redis, layout: StreamLayout) -> None:
        self._redis = client
        self.layout = layout
        self._counter = layout.key(RECEIVED_COUNTER).encode()
        # idle connections of put_once; list.pop and list.append are atomic, so threads
        # share it without a lock (one connection per concurrent call at most)
        self._idle: list[Connection] = []
        self._pid = os.getpid()

    def put_once(self, update: Mapping[str, Any], raw: bytes | None = None) -> bool:
        """Store `update`; return False when its update_id was already seen.

        Raises:
            redis.RedisError: Redis is unavailable; nothing was stored (the caller answers an
                error so that Telegram delivers the update again).
        """
        update_id = int(update["update_id"])
        payload = raw if raw is not None else json.dumps(update, ensure_ascii=False).encode()
        stream = self.layout.stream(self.layout.partition_of(chat_id_of(update)))
        keys = (b"3", self.layout.seen(update_id).encode(), stream.encode(), self._counter)
        try:
            added = self._call(_pack(b"EVALSHA", _PUT_ONCE_SHA, *keys, payload, _SEEN_SECONDS))
        except redis.exceptions.NoScriptError:  # a restarted Redis: EVAL caches it again
            added = self._call(_pack(b"EVAL", _PUT_ONCE.encode(), *keys, payload, _SEEN_SECONDS))
        return added is not None

    def _call(self, command: bytes) -> Any:
        """Send one packed command and return its reply (error replies raise).

        A connection that fails is disconnected (it reconnects when used next) and the
        command sent once more: an idle connection may have been closed by a Redis restart.
        Sending twice is safe because the script is idempotent (SET NX guards the XADD).
        """
        for attempt in (1, 2):
            conn = self._checkout()
            try:
                conn.send_packed_command([command])
                return conn.read_response()
            except redis.ResponseError:
                raise  # the error reply was read whole: the connection is still in sync
            except (redis.ConnectionError, redis.TimeoutError):
                conn.disconnect()
                if attempt == 2:
                    raise
            except BaseException:
                conn.disconnect()
                raise
            finally:
                self._idle.append(conn)
        raise AssertionError("unreachable")

    def _checkout(self) -> Connection:
        if self._pid != os.getpid():  # forked: the parent's sockets are not ours
            self._idle, self._pid = [], os.getpid()
        try:
            return self._idle.pop()
        except IndexError:
            # taken from the client's pool and kept (never released while in use here), so
            # that closing the client closes it too
            conn: Connection = self._redis.connection_pool.get_connection()
            return conn

    def close(self) -> None:
        """Give the idle connections of `put_once` back to the client's pool."""
        while self._idle:
            self._redis.connection_pool.release(self._idle.pop())

    def ensure_groups(self) -> None:
        """Create the consumer group on every partition stream (idempotent)."""
        ensure_groups(self._redis, self.layout)


def ensure_groups(client: redis.Redis, layout: StreamLayout) -> None:
    """Create stream + group `workers` for every partition, ignoring 'already exists'."""
    for stream in layout.streams():
        try:
            client.xgroup_create(stream, GROUP, id="0", mkstream=True)
        except redis.ResponseError as err:
            if "BUSYGROUP" not in str(err):
                raise


def received_ms(entry_id: bytes | str, fields: Mapping[bytes, bytes] | None = None) -> int:
    """Return when ingress received an entry's update (epoch ms): the time part of its stream
    id, which Redis takes from its own clock at the XADD; for a replayed dead letter its field
    `t`, the first reception (only the dead-letter path writes it). A `t` that is not a number
    or is later than the entry itself (no replay makes one) is not believed."""
    raw = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
    stored = int(raw.split("-", 1)[0])
    first = (fields or {}).get(b"t")
    if first is not None and first.isdigit() and int(first) <= stored:
        return int(first)
    return stored


# The oldest received time of what waits, in one call: KEYS[1] the replayed index, KEYS[2]
# the dead stream, KEYS[3..] the partition streams; ARGV[1] '' (no dead letters) or the epoch
# ms from which dead letters count; ARGV[2] and ARGV[3] '' or the stream and id of the entry
# being handled. Each partition's first entry is its oldest by stream id; a replayed entry
# anywhere in a partition counts at its `t` (index members whose entry left their stream are
# dropped here, lazily; one in a stream that is not a partition of the layout is neither read
# nor counted: the script reads only the keys it is given), unless it is behind the entry
# being handled in that entry's stream (applied after it whatever it waits for); a dead
# letter counts at its `t` when that is at or after ARGV[1] (an entry dies after it was
# received, so older deaths are not read), unless it died unparsable (reason `unparsable:`):
# replayed as it is, it dies again, so no deadline waits for it.
_OLDEST = """
local oldest = false
local function older(ms)
  if ms and (not oldest or ms < oldest) then oldest = ms end
end
local function after(id, ref)
  local a, b = string.match(id, '^(%d+)%-(%d+)$')
  local c, d = string.match(ref, '^(%d+)%-(%d+)$')
  if not (a and c) then return false end
  a, b, c, d = tonumber(a), tonumber(b), tonumber(c), tonumber(d)
  return a > c or (a == c and b > d)
end
local partitions = {}
for k = 3, #KEYS do
  partitions[KEYS[k]] = true
  local first = redis.call('XRANGE', KEYS[k], '-', '+', 'COUNT', 1)
  if #first > 0 then older(tonumber(string.match(first[1][1], '^%d+'))) end
end
local index = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
for i = 1, #index, 2 do
  local stream, id = string.match(index[i], '^(.*) (%d+%-%d+)$')
  if not (stream and partitions[stream]) then
    -- another layout's stream (UPDATE_PARTITIONS changed): not read, not ours to tidy
  elseif #redis.call('XRANGE', stream, id, id) == 0 then
    redis.call('ZREM', KEYS[1], index[i])
  elseif not (stream == ARGV[2] and after(id, ARGV[3])) then
    older(tonumber(index[i + 1]))
    break
  end
end
if ARGV[1] ~= '' then
  local since = tonumber(ARGV[1])
  for _, entry in ipairs(redis.call('XRANGE', KEYS[2], ARGV[1], '+')) do
    local fields, t, unparsable = entry[2], false, false
    for i = 1, #fields, 2 do
      if fields[i] == 't' then t = tonumber(fields[i + 1]) end
      if fields[i] == 'r' then unparsable = string.sub(fields[i + 1], 1, 11) == 'unparsable:' end
    end
    if t and t >= since and not unparsable then older(t) end
  end
end
return oldest
"""


def oldest_waiting_ms(
    client: redis.Redis,
    layout: StreamLayout,
    *,
    dead_since_ms: int | None = None,
    behind: tuple[str, str] | None = None,
) -> int | None:
    """Return when the oldest update still in the inbox was received (epoch ms), or None.

    Workers delete an entry once it is applied (XACK then XDEL), so every entry of a partition
    stream is waiting: not read yet, or read and not applied yet. A replayed dead letter
    counts at its first reception (`received_ms`), wherever it waits in its partition.
    ``dead_since_ms``: also count the dead letters received at or after it (the clock's
    question; None, the default: dead letters are not waiting, an operator must act), but
    not the unparsable ones (a replay cannot apply them).
    ``behind``: the stream and entry id of the update being handled; a replayed entry behind
    it in its stream is not counted (it is applied after it, whatever it waits for).
    One round trip (a Lua script; the index of replayed entries is tidied in it).
    """
    keys = [layout.key(REPLAYED), layout.key(DEAD_STREAM), *layout.streams()]
    since = "" if dead_since_ms is None else str(dead_since_ms)
    stream, entry = behind or ("", "")
    found = client.register_script(_OLDEST)(keys=keys, args=[since, stream, entry])
    return None if found is None else int(found)


def waiting_before(
    client: redis.Redis, layout: StreamLayout, ms: int, behind: tuple[str, str] | None = None
) -> bool:
    """Return whether an update received before ``ms`` (epoch ms) is still in the inbox. An
    update being handled is itself still there: pass its own time, it is not counted (it is
    not received before itself), and its stream and entry id as ``behind``: a replayed dead
    letter queued behind it is not counted either (it cannot be applied first). Dead letters
    are not counted: they wait for an operator."""
    oldest = oldest_waiting_ms(client, layout, behind=behind)
    return oldest is not None and oldest < ms
