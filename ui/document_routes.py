"""The cited documents a page links to: `/document` (the file itself). Same groups rule as retrieval."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import FileResponse, JSONResponse, Response

from ui.deps import ServicesDep, SessionUser

router = APIRouter(include_in_schema=False)


@router.get("/document")
def document(user: SessionUser, services: ServicesDep, source: str) -> Response:
    """A cited file, for a signed-in user allowed to see it (the same groups rule as retrieval)."""
    if user is None:
        return JSONResponse({"error": "sign in first"}, status_code=401)
    path = services.documents.source_file(user, source)
    return FileResponse(path, filename=path.name, content_disposition_type="inline")
