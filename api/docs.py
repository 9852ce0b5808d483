"""The API reference at /docs, rendered by Swagger UI from assets vendored under api/static
(npm package swagger-ui-dist, pinned; see api/static/vendor/README.md), so it works offline."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, RedirectResponse

SWAGGER_DIR = "/static/vendor/swagger-ui"


def install_docs(app: FastAPI, openapi_url: str) -> None:
    """Serve /docs from the local assets and redirect /openapi.json to the real schema."""

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        """Swagger UI on this server's OpenAPI schema, with no third-party assets."""
        return get_swagger_ui_html(
            openapi_url=openapi_url,
            title=f"{app.title} API",
            swagger_js_url=f"{SWAGGER_DIR}/swagger-ui-bundle.js",
            swagger_css_url=f"{SWAGGER_DIR}/swagger-ui.css",
            swagger_favicon_url="/static/favicon.svg",
        )

    @app.get("/openapi.json", include_in_schema=False)
    def openapi_alias() -> RedirectResponse:
        """The schema lives under the API prefix; this old address points there."""
        return RedirectResponse(openapi_url, status_code=308)
