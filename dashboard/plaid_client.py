"""The one way the dashboard calls Plaid: every call is logged, whatever happens.

The Python counterpart of Plaid Pattern's logging wrapper: each call writes
exactly one plaid_api_events_table row (internal item_id/user_id, Pattern's
camelCase plaid_method, the arguments as JSON with the access token redacted,
request_id, error_type, error_code), for a success, a Plaid error, a timeout,
a connection failure or a malformed response alike. If that row cannot be
written the call raises LogWriteError: an unlogged call must never pass
silently. Unlike Pattern (which stores NULL on success) the request_id of a
successful call is kept, because it is what Plaid Support asks for.

Failures that never reached Plaid's error body get dashboard codes under the
error_type DASHBOARD_CLIENT_ERROR (see triage.CLIENT_ERROR_CODES).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import plaid
import urllib3
from plaid.api import plaid_api
from plaid.model.country_code import CountryCode
from sqlalchemy import text
from sqlalchemy.engine import Engine

from dashboard.config import Settings
from dashboard.redaction import REDACTED, redact_text, redact_value

_log = logging.getLogger(__name__)

CLIENT_ERROR_TYPE = "DASHBOARD_CLIENT_ERROR"
CLIENT_TIMEOUT = "CLIENT_TIMEOUT"
CLIENT_CONNECTION_FAILED = "CLIENT_CONNECTION_FAILED"
CLIENT_MALFORMED_RESPONSE = "CLIENT_MALFORMED_RESPONSE"

DEFAULT_TIMEOUT = (3.0, 30.0)  # (connect, read) seconds; live balance can take 10-30 s

PLAID_HOSTS = {"sandbox": plaid.Environment.Sandbox, "production": plaid.Environment.Production}


class LogWriteError(RuntimeError):
    """A Plaid call happened but its plaid_api_events_table row could not be written."""


@dataclass(frozen=True)
class ItemRef:
    """An item as the client needs it. The token stays server-side: repr hides it."""

    id: int
    user_id: int | None
    plaid_item_id: str
    plaid_institution_id: str
    status: str
    access_token: str = field(repr=False)


@dataclass(frozen=True)
class CallResult:
    method: str  # camelCase, as logged
    ok: bool
    data: dict[str, Any] | None
    request_id: str | None
    error_type: str | None
    error_code: str | None
    error_message: str | None
    http_status: int | None
    event_id: int


def camel_case(snake: str) -> str:
    head, *rest = snake.split("_")
    return head + "".join(p[:1].upper() + p[1:] for p in rest)


def redacted_arguments(request: Mapping[str, Any]) -> str:
    """The argument list as Pattern writes it (`[{...}]`), credentials replaced."""
    plain = plaid.ApiClient.sanitize_for_serialization(dict(request))
    clean = {k: (REDACTED if k in ("access_token", "secret", "client_id") else v) for k, v in plain.items()}
    return json.dumps([redact_value(clean)], default=str)


def _error_from_body(body: Any) -> tuple[str | None, str | None, str | None, str | None] | None:
    """(request_id, error_type, error_code, error_message) from a Plaid error body, or None."""
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    try:
        parsed = json.loads(body) if isinstance(body, str) else None
    except ValueError:
        return None
    if not isinstance(parsed, dict) or not parsed.get("error_code"):
        return None
    return (
        parsed.get("request_id"),
        parsed.get("error_type"),
        parsed.get("error_code"),
        parsed.get("error_message"),
    )


def _transport_kind(exc: BaseException) -> str:
    reason = getattr(exc, "reason", None) if isinstance(exc, urllib3.exceptions.MaxRetryError) else exc
    if isinstance(reason, urllib3.exceptions.NewConnectionError):
        return CLIENT_CONNECTION_FAILED  # a subclass of ConnectTimeoutError, so test it first
    if isinstance(reason, (urllib3.exceptions.TimeoutError, TimeoutError)):
        return CLIENT_TIMEOUT
    return CLIENT_CONNECTION_FAILED


class LoggedPlaidClient:
    """Wraps a plaid-python PlaidApi; one logged row per call."""

    def __init__(
        self,
        api: plaid_api.PlaidApi,
        engine: Engine,
        *,
        plaid_env: str = "sandbox",
        simulated: bool = False,
        timeout: tuple[float, float] = DEFAULT_TIMEOUT,
    ) -> None:
        self.api = api
        self.engine = engine
        self.plaid_env = plaid_env
        self.simulated = simulated
        self.timeout = timeout

    def call(
        self,
        method: str,
        request: Mapping[str, Any],
        *,
        item: ItemRef | None = None,
        timeout: tuple[float, float] | None = None,
    ) -> CallResult:
        """Call `PlaidApi.<method>` (snake_case) with a request model built from `request`."""
        body = dict(request)
        if item is not None:
            body["access_token"] = item.access_token
        # Built before the try: an invalid request is our bug and never reached Plaid, so no row.
        model = _request_model(method)(**body)
        plaid_method = camel_case(method)
        arguments = redacted_arguments(body)
        data = None
        request_id = error_type = error_code = error_message = None
        http_status: int | None = None
        try:
            response = getattr(self.api, method)(model, _request_timeout=timeout or self.timeout)
            data = plaid.ApiClient.sanitize_for_serialization(response)
            request_id = data.get("request_id") if isinstance(data, dict) else None
            http_status = 200
        except plaid.ApiException as exc:
            http_status = exc.status or None
            parsed = _error_from_body(exc.body)
            if parsed is None:  # e.g. an HTML 502 from a proxy
                error_type, error_code = CLIENT_ERROR_TYPE, CLIENT_MALFORMED_RESPONSE
                error_message = f"HTTP {exc.status} with a body that is not a Plaid error"
            else:
                request_id, error_type, error_code, error_message = parsed
        except (plaid.ApiTypeError, plaid.ApiValueError, plaid.ApiKeyError, plaid.ApiAttributeError,
                TypeError, ValueError, KeyError) as exc:
            # plaid-python deserialises strictly: a body it cannot read lands here.
            http_status = 200
            error_type, error_code = CLIENT_ERROR_TYPE, CLIENT_MALFORMED_RESPONSE
            error_message = f"Plaid's answer could not be read ({type(exc).__name__})"
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            error_type, error_code = CLIENT_ERROR_TYPE, _transport_kind(exc)
            error_message = redact_text(str(exc))[:300]
        event_id = self._log_call(item, plaid_method, arguments, request_id, error_type, error_code)
        return CallResult(
            method=plaid_method,
            ok=error_code is None,
            data=data,
            request_id=request_id,
            error_type=error_type,
            error_code=error_code,
            error_message=error_message,
            http_status=http_status,
            event_id=event_id,
        )

    def _log_call(
        self,
        item: ItemRef | None,
        plaid_method: str,
        arguments: str,
        request_id: str | None,
        error_type: str | None,
        error_code: str | None,
    ) -> int:
        try:
            with self.engine.begin() as conn:
                return int(
                    conn.execute(
                        text(
                            "INSERT INTO plaid_api_events_table "
                            "(item_id, user_id, plaid_method, arguments, request_id, error_type, error_code) "
                            "VALUES (:item_id, :user_id, :m, :args, :rid, :et, :ec) RETURNING id"
                        ),
                        {
                            "item_id": item.id if item else None,
                            "user_id": item.user_id if item else None,
                            "m": plaid_method,
                            "args": arguments,
                            "rid": request_id,
                            "et": error_type,
                            "ec": error_code,
                        },
                    ).scalar_one()
                )
        except Exception as exc:
            _log.error("could not log Plaid call %s (request_id %s): %s", plaid_method, request_id, type(exc).__name__)
            raise LogWriteError(
                f"The Plaid call {plaid_method} was made (request_id {request_id or 'none'}, "
                f"outcome {error_code or 'success'}) but could not be written to plaid_api_events_table. "
                "Stop and check the database before calling Plaid again."
            ) from None


def _request_model(method: str) -> type:
    """plaid.model.<method>_request.<Method>Request, e.g. item_get -> ItemGetRequest."""
    import importlib

    module = importlib.import_module(f"plaid.model.{method}_request")
    return getattr(module, "".join(p.capitalize() for p in method.split("_")) + "Request")


def build_api(host: str, client_id: str, secret: str) -> plaid_api.PlaidApi:
    cfg = plaid.Configuration(host=host, api_key={"clientId": client_id, "secret": secret})
    # One HTTP attempt per logged call: retries are the caller's decision (with
    # backoff and a row each), never hidden inside urllib3.
    cfg.retries = urllib3.Retry(total=0, connect=0, read=0, redirect=0, status=0)
    return plaid_api.PlaidApi(plaid.ApiClient(cfg))


def make_client(settings: Settings, engine: Engine) -> LoggedPlaidClient:
    """Real Plaid when credentials are configured, otherwise the local stand-in."""
    # Settings already merge st.secrets under the environment (ui.current_settings),
    # so the client and the sidebar's "Simulated" label cannot disagree.
    client_id = settings.plaid_client_id
    secret = settings.plaid_secret
    env = settings.plaid_env
    if client_id and secret:
        return LoggedPlaidClient(build_api(PLAID_HOSTS[env], client_id, secret), engine, plaid_env=env)
    from dashboard.plaid_standin import STANDIN_CLIENT_ID, STANDIN_SECRET, ensure_standin

    server = ensure_standin()
    api = build_api(server.url, STANDIN_CLIENT_ID, STANDIN_SECRET)
    return LoggedPlaidClient(api, engine, plaid_env="sandbox", simulated=True)


def fetch_institution_name(client: LoggedPlaidClient, institution_id: str) -> str | None:
    """The institution's name via /institutions/get_by_id (logged, no item), or None."""
    result = client.call(
        "institutions_get_by_id",
        {"institution_id": institution_id, "country_codes": [CountryCode("US")]},
    )
    if not result.ok or not result.data:
        return None
    name = (result.data.get("institution") or {}).get("name")
    return str(name) if name else None
