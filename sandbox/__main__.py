"""``python -m sandbox [--host H] [--port P] [--flood-limits] [--data-dir D]``: serve and wait."""

from __future__ import annotations

import argparse
import signal
import threading

from sandbox.server import SandboxServer


def main(argv: list[str] | None = None) -> None:
    """Serve the sandbox until interrupted; print the addresses to use."""
    parser = argparse.ArgumentParser(prog="python -m sandbox", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--flood-limits", action="store_true", help="enforce Telegram's limits")
    parser.add_argument("--data-dir", default=None, help="keep state here across restarts")
    args = parser.parse_args(argv)
    server = SandboxServer(args.host, args.port, args.flood_limits, args.data_dir).start()
    print(f"sandbox web chat: {server.url}/sandbox", flush=True)
    print(f"TELEGRAM_API_BASE_URL={server.api_base_url}", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


if __name__ == "__main__":
    main()
