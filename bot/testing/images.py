"""Deterministic test images: real PNGs that differ visibly per seed, optionally padded to a size.

Used by the fal stand-in (generated "model output") and by tests that need image bytes.
"""

from __future__ import annotations

import hashlib
import io
import random
import struct
import zlib

from PIL import Image, ImageDraw

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# Ancillary, private, safe-to-copy chunk type: decoders must skip it, so the image stays valid.
_PAD_CHUNK = b"paDd"


def make_png(seed: str, width: int = 256, height: int = 256, *, min_bytes: int = 0) -> bytes:
    """Return a valid width x height PNG whose colours derive from `seed`, at least `min_bytes`."""
    digest = hashlib.sha256(f"{seed}|{width}x{height}".encode()).digest()
    corners = Image.new("RGB", (2, 2))
    corners.putdata([(digest[i], digest[i + 1], digest[i + 2]) for i in range(0, 12, 3)])
    image = corners.resize((width, height), Image.Resampling.BILINEAR)
    ImageDraw.Draw(image).text((4, 4), seed[:40], fill=(255, 255, 255))
    if min_bytes > 0:
        _add_noise(image, digest, min_bytes)
    buffer = io.BytesIO()
    # Level 1: fast, and a gradient or noise gains little from more.
    image.save(buffer, format="PNG", compress_level=1)
    data = buffer.getvalue()
    if len(data) < min_bytes:
        data = _pad(data, min_bytes)
    return data


def _add_noise(image: Image.Image, digest: bytes, min_bytes: int) -> None:
    """Paste incompressible rows at the bottom, enough to reach roughly `min_bytes`."""
    width, height = image.size
    rows = min(height, -(-min_bytes // (3 * width)))
    noise = random.Random(digest).randbytes(3 * width * rows)
    image.paste(Image.frombytes("RGB", (width, rows), noise), (0, height - rows))


def padded_png(seed: str, width: int, height: int, min_bytes: int) -> bytes:
    """A PNG like make_png's, brought to `min_bytes` with an ancillary chunk of random bytes:
    as large and as incompressible on the wire, at a fraction of the cost of noisy pixels."""
    data = make_png(seed, width, height)
    filler = random.Random(seed).randbytes(max(0, min_bytes - len(data) - 12))
    return _pad(data, min_bytes, filler)


def _pad(data: bytes, min_bytes: int, filler: bytes | None = None) -> bytes:
    """Insert an ancillary chunk before IEND so the PNG reaches `min_bytes` (12 bytes overhead)."""
    iend = data.rindex(b"IEND") - 4
    if filler is None:
        filler = b"\0" * max(0, min_bytes - len(data) - 12)
    crc = zlib.crc32(_PAD_CHUNK + filler)
    chunk = struct.pack(">I", len(filler)) + _PAD_CHUNK + filler + struct.pack(">I", crc)
    return data[:iend] + chunk + data[iend:]


def png_size(data: bytes) -> tuple[int, int]:
    """Return (width, height) from a PNG's IHDR chunk; ValueError if it is not a PNG."""
    if len(data) < 24 or not data.startswith(PNG_SIGNATURE) or data[12:16] != b"IHDR":
        raise ValueError("not a PNG")
    width, height = struct.unpack(">II", data[16:24])
    return int(width), int(height)
