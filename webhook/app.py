"""The Flask application factory: ingress, public ledger API, /verify, health and metrics.

`create_app(deps)` gets every collaborator from the caller (the gateway wires real ones,
tests wire small ones) and keeps them in `app.extensions["pgw"]`; there is no module-level
app and nothing here reads the environment.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from typing import Any

import redis
from flask import Flask
from flask import current_app
from flask import jsonify
from werkzeug.exceptions import HTTPException

from i18n.catalog import Catalog
from webhook.inbox import Inbox

MAX_BODY_BYTES = 1 << 20  # Telegram updates are a few KiB; 1 MiB leaves room for long texts


@dataclass(frozen=True, kw_only=True)
class WebhookDeps:
    """What the web process needs; built once by the gateway."""

    webhook_secret: str = field(repr=False)
    inbox: Inbox
    redis: redis.Redis
    ledger: Any  # ledger.Ledger, or any object with the same read methods
    catalog: Catalog
    public_base_url: str = "http://127.0.0.1:8080"
    default_locale: str = "ko"
    api_rate_per_minute: int = 600
    max_body_bytes: int = MAX_BODY_BYTES
    # name -> check raising on failure; /readyz runs them all
    checks: Mapping[str, Callable[[], None]] = field(default_factory=dict)
    # extra Prometheus text (e.g. broadcast progress) appended by the gateway
    extra_metrics: Callable[[], Mapping[str, float]] | None = None
    trusted_proxies: int = 0  # X-Forwarded-For hops to trust for the client IP
    # review day (webhook/onsite.py, webhook/results.py): the ParticipationService for the
    # projector page and the results files, and the key that signs projector links
    participation: Any = None
    onsite_key: bytes = field(default=b"", repr=False)
    # round id -> ledger index of its `results.published` entry, or None: the results page's
    # /verify link (the gateway reads it beside the round)
    results_entry: Callable[[str], int | None] | None = None


def deps() -> WebhookDeps:
    """Return the collaborators of the current app."""
    found: WebhookDeps = current_app.extensions["pgw"]
    return found


def create_app(dependencies: WebhookDeps) -> Flask:
    """Build the Flask app around `dependencies`."""
    from webhook.health import bp as health_bp
    from webhook.ingress import TelegramIngress
    from webhook.ingress import bp as ingress_bp
    from webhook.ledger_api import bp as ledger_bp
    from webhook.onsite import bp as onsite_bp
    from webhook.results import bp as results_bp
    from webhook.verify import bp as verify_bp

    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = dependencies.max_body_bytes
    app.config["JSON_AS_ASCII"] = False
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.extensions["pgw"] = dependencies
    if dependencies.trusted_proxies:
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=dependencies.trusted_proxies, x_proto=1, x_host=1
        )
    app.register_blueprint(ingress_bp)
    app.register_blueprint(ledger_bp)
    app.register_blueprint(verify_bp)
    app.register_blueprint(health_bp)
    app.register_blueprint(onsite_bp)
    app.register_blueprint(results_bp)
    app.register_error_handler(HTTPException, _http_error)
    # `POST /telegram` answered before Flask (outside ProxyFix: it needs no client address)
    app.wsgi_app = TelegramIngress(app, dependencies, app.wsgi_app)  # type: ignore[method-assign]
    return app


def _http_error(err: HTTPException) -> Any:
    """Answer every HTTP error as JSON {"code","message"} (Telegram ignores the body)."""
    code = (err.name or "error").lower().replace(" ", "_")
    response = jsonify(code=code, message=err.description or err.name)
    response.status_code = err.code or 500
    return response
