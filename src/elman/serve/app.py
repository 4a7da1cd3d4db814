"""The HTTP service: a FastAPI app that tags texts with one model, loaded once at startup.

Endpoints:

- ``POST /v1/tag`` with ``{"text": "..."}`` or ``{"texts": ["...", ...]}`` (exactly one) and an
  optional ``"tokens": true`` returns ``{"results": [{"entities": [...], "tokens": [...]}],
  "model": "<name>"}``, one result per text in request order. Entities have ``text``, ``label``,
  ``start``, ``end`` (half-open offsets into the text as sent, in Unicode code points) and
  ``confidence`` in [0, 1]. ``tokens`` appears only when requested.
- ``GET /v1/model``: labels, model and training settings, recorded scores.
- ``GET /health``: ``{"status": "ok", "model": "<name>"}``.
- ``GET /``: a web page that highlights the entities of a typed text.
- ``/openapi.json`` and ``/docs``: FastAPI's defaults (``/docs`` loads Swagger UI from a CDN).

Requests past a limit of ``ServeSettings`` get status 413, and invalid bodies get 422 with the
field in ``loc``. Each response carries an ``X-Request-ID`` header. The model directory comes only
from the command line or the ``ELMAN_MODEL`` environment variable.
"""

from __future__ import annotations

import copy
import ipaddress
import logging
import math
import os
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import aclosing, asynccontextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.datastructures import MutableHeaders
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from elman import __version__
from elman.errors import ConfigError, ElmanError, ModelError
from elman.serve import page, schemas
from elman.serve.settings import MODEL_VARIABLE, ServeSettings
from elman.tag.predictor import Tagger, load

logger = logging.getLogger(__name__)

REQUEST_ID_HEADER = "X-Request-ID"
APP_FACTORY = "elman.serve.app:create_app"


def create_app(model_path: str | Path | None = None) -> FastAPI:
    """Build the app for the model at ``model_path``, or at ``$ELMAN_MODEL`` when it is None.

    Nothing is loaded here: the model is loaded when the app starts (its lifespan), once, and
    shared read-only by all requests. The limits are read from the environment here.
    """
    path = _model_path(model_path)
    settings = ServeSettings.from_env()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        started = time.perf_counter()
        try:
            tagger = load(path)
        except ElmanError as error:
            logger.error("failed to load the model: %s", error)
            raise
        app.state.tagger = tagger
        app.state.model_name = path.resolve().name
        logger.info(
            "loaded model %s (labels %s) in %.2f s",
            path,
            ", ".join(tagger.labels),
            time.perf_counter() - started,
        )
        yield
        logger.info("stopped serving model %s", path)

    app = FastAPI(
        title="elman",
        version=__version__,
        description="Find names and other labelled spans in text with an Elman recurrent network.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.add_middleware(RequestIdMiddleware)
    app.add_exception_handler(Exception, _unexpected_error)
    _add_routes(app)
    _document_request_body(app)
    return app


def _model_path(model_path: str | Path | None) -> Path:
    if model_path is not None:
        return Path(model_path)
    value = os.environ.get(MODEL_VARIABLE)
    if not value:
        raise ConfigError(
            f"no model directory: pass one to create_app() or set {MODEL_VARIABLE} "
            "to the --output directory of elman train"
        )
    return Path(value)


def get_settings(request: Request) -> ServeSettings:
    """Return the request limits (a dependency; tests override it)."""
    settings: ServeSettings = request.app.state.settings
    return settings


def get_tagger(request: Request) -> Tagger:
    """Return the tagger that the lifespan loaded."""
    tagger: Tagger = request.app.state.tagger
    return tagger


async def read_body(request: Request, settings: ServeSettings = Depends(get_settings)) -> bytes:
    """Read the request body, stopping with 413 as soon as it exceeds the size limit.

    A declared Content-Length over the limit is rejected before any of the body is read. A
    chunked body is counted as it arrives. Uvicorn then reads and drops the rest of the body
    (as its h11 protocol does in uvicorn 0.55), so the connection stays usable.
    """
    limit = settings.max_body_bytes
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _too_large(f"request body of {int(declared)} bytes", settings, "max_body_bytes")

    chunks: list[bytes] = []
    size = 0
    try:
        async with aclosing(request.stream()) as stream:
            async for chunk in stream:
                size += len(chunk)
                if size > limit:
                    raise _too_large(
                        f"request body of over {limit} bytes", settings, "max_body_bytes"
                    )
                chunks.append(chunk)
    except ClientDisconnect:
        logger.info("request %s: client disconnected while sending the body", _request_id(request))
        raise HTTPException(400, "client disconnected before the whole body arrived") from None
    return b"".join(chunks)


def _too_large(what: str, settings: ServeSettings, limit: str) -> HTTPException:
    return HTTPException(
        413, f"{what} exceeds the limit {settings.limit_name(limit)}; send less per request"
    )


def _add_routes(app: FastAPI) -> None:
    app.get("/", response_class=HTMLResponse, include_in_schema=False)(index)
    app.get("/health", response_model=schemas.Health)(health)
    app.get("/v1/model", response_model=schemas.ModelInfo)(model_info)
    app.post(
        "/v1/tag",
        response_model=schemas.TagResponse,
        responses={
            413: {"model": schemas.Problem, "description": "A request limit was exceeded"},
            422: {"model": schemas.InvalidRequest, "description": "Invalid JSON or field"},
        },
        openapi_extra={"requestBody": {"required": True, "content": {"application/json": {}}}},
    )(tag)


def index() -> HTMLResponse:
    """Serve the web page."""
    return HTMLResponse(
        page.page_html(), headers={"Content-Security-Policy": page.content_security_policy()}
    )


def health(request: Request) -> dict[str, str]:
    """Report that the service is up and its model loaded."""
    return {"status": "ok", "model": request.app.state.model_name}


def model_info(request: Request, tagger: Tagger = Depends(get_tagger)) -> JSONResponse:
    """Return the model's labels, settings and recorded scores."""
    saved = tagger.saved
    info = {
        "name": request.app.state.model_name,
        "labels": tagger.labels,
        "tags": list(tagger.vocab.tags),
        "scheme": saved.scheme,
        "model": asdict(saved.model_config),
        "train": asdict(saved.train_config),
        "scores": saved.scores,
    }
    return JSONResponse(_finite(info))


def tag(
    request: Request,
    body: bytes = Depends(read_body),
    settings: ServeSettings = Depends(get_settings),
    tagger: Tagger = Depends(get_tagger),
) -> JSONResponse:
    """Tag one text or several; the response has one result per text, in request order."""
    parsed = schemas.parse_tag_request(body)
    if isinstance(parsed, schemas.TextRequest):
        texts, names = [parsed.text], ["text"]
    else:
        texts, names = parsed.texts, [f"texts[{i}]" for i in range(len(parsed.texts))]
        if len(texts) > settings.max_texts:
            raise _too_large(f"{len(texts)} texts", settings, "max_texts")
    for name, text in zip(names, texts, strict=True):
        if len(text) > settings.max_text_chars:
            raise _too_large(f"{name} of {len(text)} characters", settings, "max_text_chars")

    tagged = tagger.tag_texts(texts)
    results = [schemas.result_to_dict(item, tokens=parsed.tokens) for item in tagged]
    return JSONResponse({"results": results, "model": request.app.state.model_name})


def _finite(value: Any) -> Any:
    """Replace NaN and infinities, which JSON cannot hold, by None (null)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(item) for item in value]
    return value


def _document_request_body(app: FastAPI) -> None:
    """Add the request body schema of ``POST /v1/tag``, which the endpoint parses itself."""
    body_schema, components = schemas.request_body_schema()
    build_openapi = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        document = build_openapi()  # FastAPI caches it as app.openapi_schema
        document.setdefault("components", {}).setdefault("schemas", {}).update(components)
        content = document["paths"]["/v1/tag"]["post"]["requestBody"]["content"]
        content["application/json"]["schema"] = body_schema
        return document

    app.openapi = openapi  # type: ignore[method-assign]


class RequestIdMiddleware:
    """Give each HTTP request a random id, in ``request.state.request_id`` and a response header."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message).append(REQUEST_ID_HEADER, request_id)
            await send(message)

        await self.app(scope, receive, send_with_id)


def _request_id(request: Request) -> str:
    return str(getattr(request.state, "request_id", "-"))


async def _unexpected_error(request: Request, error: Exception) -> Response:
    """Return status 500 for an unhandled exception (a bug) and log it with the request id.

    Starlette re-raises the exception after this response, so uvicorn also logs the traceback.
    """
    request_id = _request_id(request)
    logger.error(
        "request %s: %s %s failed: %s: %s",
        request_id,
        request.method,
        request.url.path,
        type(error).__name__,
        error,
    )
    return JSONResponse(
        {"detail": f"internal server error; the server log names request {request_id}"},
        status_code=500,
        headers={REQUEST_ID_HEADER: request_id},
    )


def serve(
    model_path: Path,
    *,
    host: str = "127.0.0.1",
    port: int = 8080,
    workers: int = 1,
    log_level: int | None = None,
) -> None:
    """Run the service under uvicorn until interrupted.

    With ``workers > 1`` uvicorn starts that many processes. Each builds the app through
    ``create_app`` and loads its own copy of the model, whose directory reaches it in the
    ``ELMAN_MODEL`` environment variable.
    """
    import uvicorn

    from elman.store import verify_manifest

    if workers < 1:
        raise ConfigError(f"--workers {workers} is invalid; expected 1 or more processes")
    if not model_path.is_dir():
        raise ModelError(
            f"{model_path}: model directory not found; pass the --output of elman train"
        )
    verify_manifest(model_path)
    ServeSettings.from_env()  # reject invalid limits before uvicorn starts
    if not _is_loopback(host):
        logger.warning(
            "serving on %s, which other machines can reach; the service has no authentication",
            host,
        )

    level = logging.getLogger("elman").getEffectiveLevel() if log_level is None else log_level
    options: dict[str, Any] = {
        "host": host,
        "port": port,
        "log_config": _log_config(level),
        "log_level": level,
    }
    if workers == 1:
        uvicorn.run(create_app(model_path), **options)
        return
    os.environ[MODEL_VARIABLE] = str(model_path.resolve())
    uvicorn.run(APP_FACTORY, factory=True, workers=workers, **options)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _log_config(level: int) -> dict[str, Any]:
    """Uvicorn's logging configuration plus the ``elman`` logger, also in worker processes."""
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config["loggers"]["elman"] = {"handlers": ["default"], "level": level, "propagate": False}
    return config
