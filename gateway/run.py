"""`python -m gateway run`: every role in one process, on embedded defaults.

Threads: the web app (werkzeug), the sandbox Bot API (when TELEGRAM_BOT_TOKEN is unset; it
delivers updates to our own `/telegram`, so the real ingress path is exercised), WORKERS
update workers, and the clock with the update feeder.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

import structlog
from werkzeug.serving import make_server

from gateway import processes
from gateway.wiring import Runtime
from webhook.app import create_app

log = structlog.get_logger("gateway.run")


def start_sandbox(rt: Runtime) -> Any:
    """Start the sandbox Bot API next to the web port (or anywhere free)."""
    from sandbox.server import SandboxServer

    port = int(os.environ.get("SANDBOX_PORT") or rt.settings.port + 1)
    data_dir = rt.settings.var_dir / "sandbox"
    try:
        return SandboxServer("127.0.0.1", port=port, data_dir=data_dir).start()
    except OSError:
        return SandboxServer("127.0.0.1", port=0, data_dir=data_dir).start()


def run_all(rt: Runtime, stopper: processes.Stopper) -> None:
    """Start every role, print where to go, and wait for Ctrl+C / SIGTERM."""
    s = rt.settings
    _ = rt.redis, rt.ledger, rt.service  # build shared objects before threads race for them
    asyncio.run(processes.prepare_streams(rt))
    sandbox = start_sandbox(rt) if s.sandbox else None
    sandbox_api = sandbox.api_base_url if sandbox is not None else None
    web = make_server("127.0.0.1", s.port, create_app(rt.webhook_deps()), threaded=True)
    threads = [processes.run_in_thread("web", web.serve_forever, stopper)]
    for n in range(s.workers):
        threads.append(
            processes.run_in_thread(
                f"worker-{n}",
                lambda: processes.run_loop(
                    processes.worker_main(rt, stopper, sandbox_api), s.event_loop
                ),
                stopper,
            )
        )
    threads.append(
        processes.run_in_thread(
            "clock",
            lambda: processes.run_loop(
                processes.clock_main(rt, stopper, sandbox_api), s.event_loop
            ),
            stopper,
        )
    )
    announce(rt, sandbox)
    stopper.stopped.wait()
    log.info("run_stopping")
    web.shutdown()
    for thread in threads:
        thread.join(timeout=20)
    if sandbox is not None:
        sandbox.stop()


def announce(rt: Runtime, sandbox: Any) -> None:
    """Print the addresses in Korean and English."""
    s, c = rt.settings, rt.catalog
    web = f"http://127.0.0.1:{s.port}"
    for locale in ("ko", "en"):
        lines = [c.text(locale, "gateway.run.started")]
        if sandbox is not None:
            lines.append(c.text(locale, "gateway.run.sandbox", url=f"{sandbox.url}/sandbox"))
        lines.append(c.text(locale, "gateway.run.web", url=web))
        lines.append(c.text(locale, "gateway.run.verify", url=f"{s.public_base_url}/verify"))
        lines.append(c.text(locale, "gateway.run.stop"))
        print("\n".join(lines), flush=True)
