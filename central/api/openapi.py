"""The OpenAPI document of the whole API, generated from the route declarations."""

from __future__ import annotations

from typing import Any

from bottle import Bottle

from central.api._common import PUBLIC, Api, Request
from central.context import CentralContext
from central.openapi import openapi_document


def register(app: Bottle, ctx: CentralContext) -> None:
    api = Api(app, ctx, tag="meta")
    cache: list[dict[str, Any]] = []

    @api.get("/api/openapi.json", PUBLIC, "This API's OpenAPI 3.1 document",
             response={"type": "object"})
    def get_openapi(req: Request) -> dict[str, Any]:
        if not cache:  # every module has registered its routes by the first request
            cache.append(openapi_document(req.ctx))
        return cache[0]
