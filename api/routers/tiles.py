"""The log as C2SP tlog-tiles at the server's root: ``/checkpoint``, ``/tile/<L>/<N>[.p/<W>]``,
``/tile/entries/<N>[.p/<W>]`` (docs/spec/03-chain-and-log.md §Tiles; docs/api.md).

Public and read-only, like ``/v1/log``: hashes, signatures and leaf data only. Every tile lies
inside the tree of the latest signed checkpoint (``/checkpoint``), so a client can verify what it
reads; a tile beyond it is 404. Full tiles never change and are cached for a year; partial tiles and
the checkpoint for seconds.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse, Response

from api.deps import ServicesDep
from api.errors import BadRequest, NotFound
from ledger.tile_store import LedgerTiles
from ledger.tiles import Tile, TileError, parse_tile_path

router = APIRouter(tags=["transparency log (C2SP tlog-tiles)"])

IMMUTABLE = "public, max-age=31536000, immutable"
PARTIAL = "public, max-age=60"
CHECKPOINT = "public, max-age=5, must-revalidate"
OCTETS = "application/octet-stream"

_NOT_FOUND = {"description": "no checkpoint yet, or the tile is beyond the latest checkpoint's tree",
              "content": {"application/problem+json": {}}}


def _tiles(services: ServicesDep) -> LedgerTiles:
    c = services.container
    got = getattr(c, "_ledger_tiles", None)
    if got is None:
        got = LedgerTiles(c.merkle)
        c._ledger_tiles = got  # type: ignore[attr-defined]  # noqa: SLF001 - one reader per container
    return got


@router.get("/checkpoint", response_class=PlainTextResponse, summary="the latest signed checkpoint (C2SP tlog-tiles)",
            responses={200: {"content": {"text/plain": {}}}, 404: _NOT_FOUND})
def checkpoint(services: ServicesDep) -> Response:
    with services.container.engine.connect() as conn:
        cp = _tiles(services).checkpoint(conn)
        note = None if cp is None else services.container.merkle.cosigned_note(conn, cp)  # with cosignatures
    if note is None:
        raise NotFound("no checkpoint has been signed yet", code="E_NO_CHECKPOINT")
    return PlainTextResponse(note, media_type="text/plain; charset=utf-8", headers={"Cache-Control": CHECKPOINT})


@router.get("/tile/{path:path}", summary="a hash tile or an entry bundle (C2SP tlog-tiles)",
            response_class=Response,
            responses={200: {"content": {OCTETS: {}}}, 400: {"description": "malformed tile path"},
                       404: _NOT_FOUND})
def tile(path: str, request: Request, services: ServicesDep) -> Response:
    try:
        t = parse_tile_path("tile/" + path)
    except TileError as e:
        raise BadRequest(e.message, code="E_BAD_TILE_PATH") from None
    tiles = _tiles(services)
    hit = tiles.cached(t)  # a full tile served before: immutable, no database read
    if hit is not None:
        return _answer(tiles, t, hit, request)
    with services.container.engine.connect() as conn:
        cp = tiles.checkpoint(conn)
        if cp is None:
            raise NotFound("no checkpoint has been signed yet", code="E_NO_CHECKPOINT")
        try:
            answer = tiles.get(conn, t, cp.size)
        except TileError as e:
            if e.code != "E_TILE_NOT_FOUND":
                raise
            raise NotFound(e.message, code="E_TILE_NOT_FOUND") from None
    return _answer(tiles, t, answer.data, request)


def _answer(tiles: LedgerTiles, t: Tile, data: bytes, request: Request) -> Response:
    """The tile's bytes; an entry bundle gzip-encoded when the client accepts it (C2SP: SHOULD)."""
    headers = {"Cache-Control": IMMUTABLE if t.full else PARTIAL}
    if t.level is None:
        headers["Vary"] = "Accept-Encoding"
        accepted = {a.split(";", 1)[0].strip().lower() for a in request.headers.get("accept-encoding", "").split(",")}
        if "gzip" in accepted:
            headers["Content-Encoding"] = "gzip"
            data = tiles.gzipped(t, data)
    return Response(data, media_type=OCTETS, headers=headers)
