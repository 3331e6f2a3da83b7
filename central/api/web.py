"""The admin page: ``/`` (index.html) and ``/static/...`` (scripts, styles, images).

Everything the page needs is served from ``central/static/`` (no CDN: it works without the
internet). There is no build step: the files are plain ES modules and CSS, so they are not
fingerprinted; every response is ``Cache-Control: no-cache`` with an ``ETag``, so a browser
revalidates (a cheap 304) and an upgrade of central takes effect at the next load.

Only known file types are served, each with its content type; paths that leave the static
folder, hidden files and anything else are 404. The page gets a strict Content-Security-Policy
(scripts, styles, fonts and connections only from central itself).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import bottle
from bottle import Bottle

from central.api._common import PUBLIC, Api, ApiError, Request
from central.context import CentralContext

STATIC_ROOT = Path(__file__).resolve().parent.parent / "static"

CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".json": "application/json",
    ".woff2": "font/woff2",
}

CONTENT_SECURITY_POLICY = "; ".join((
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data: blob:",
    "font-src 'self'",
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
))


def static_file(relative: str) -> Path:
    """The file under STATIC_ROOT named by ``relative``; 404 for anything else."""
    parts = [p for p in relative.split("/") if p]
    if not parts or any(p.startswith(".") or "\\" in p or "\x00" in p for p in parts):
        raise ApiError(404, f"not found: /static/{relative[:100]}")
    path = STATIC_ROOT.joinpath(*parts).resolve()
    if not path.is_relative_to(STATIC_ROOT) or not path.is_file() \
            or path.suffix not in CONTENT_TYPES:
        raise ApiError(404, f"not found: /static/{relative[:100]}")
    return path


def send_file(path: Path) -> bytes | bottle.HTTPResponse:
    """The file with its content type, an ETag and no-cache; 304 when the ETag still holds."""
    stat = path.stat()
    etag = '"' + hashlib.sha256(f"{path}:{stat.st_mtime_ns}:{stat.st_size}".encode())\
        .hexdigest()[:24] + '"'
    headers = {
        "Content-Type": CONTENT_TYPES[path.suffix],
        "Cache-Control": "no-cache",
        "ETag": etag,
        "X-Content-Type-Options": "nosniff",
    }
    if path.suffix == ".html":
        headers.update({"Content-Security-Policy": CONTENT_SECURITY_POLICY,
                        "X-Frame-Options": "DENY", "Referrer-Policy": "same-origin"})
    sent = bottle.request.get_header("If-None-Match") or ""
    if etag in [tag.strip() for tag in sent.split(",")]:
        return bottle.HTTPResponse(status=304, headers=headers)
    for name, value in headers.items():
        bottle.response.set_header(name, value)
    return path.read_bytes()


def register(app: Bottle, ctx: CentralContext) -> None:
    api = Api(app, ctx, tag="web")

    @api.get("/", PUBLIC, "The admin page", raw=True, in_openapi=False)
    def index(req: Request) -> bytes | bottle.HTTPResponse:
        return send_file(STATIC_ROOT / "index.html")

    @api.get("/static/{path:path}", PUBLIC, "The admin page's scripts, styles and images",
             raw=True, in_openapi=False)
    def static(req: Request, path: str) -> bytes | bottle.HTTPResponse:
        return send_file(static_file(path))
