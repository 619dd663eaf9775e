"""People's images checked before fal sees them: the real type from the bytes, size and pixel
caps (Pillow's decompression-bomb guard), GIFs reduced to their first frame, big ones shrunk."""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

from PIL import Image, UnidentifiedImageError

from bot.domain.request import MAX_EDGE, MAX_PIXELS

# Pillow refuses anything over twice this; we refuse at once rather than decode a bomb.
BOMB_PIXELS = 64_000_000

_SIGNATURES: tuple[tuple[bytes, int, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", 0, "image/png"),
    (b"\xff\xd8\xff", 0, "image/jpeg"),
    (b"GIF87a", 0, "image/gif"),
    (b"GIF89a", 0, "image/gif"),
    (b"WEBP", 8, "image/webp"),
)


class ImageRejected(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class PreparedImage:
    data: bytes
    content_type: str
    width: int
    height: int


def sniff(data: bytes) -> str | None:
    """The image type the bytes really are, whatever the file is called."""
    for signature, offset, content_type in _SIGNATURES:
        if data[offset : offset + len(signature)] == signature:
            if content_type == "image/webp" and not data.startswith(b"RIFF"):
                continue
            return content_type
    return None


def prepare_image(data: bytes, *, name: str, max_bytes: int) -> PreparedImage:
    label = f"`{name}`" if name else "That file"
    if len(data) > max_bytes:
        raise ImageRejected(
            f"{label} is {len(data) / 1e6:.1f} MB; I take images up to {max_bytes / 1e6:.0f} MB."
        )
    content_type = sniff(data)
    if content_type is None:
        raise ImageRejected(f"{label} isn't an image I can edit: send a PNG, JPEG, WebP or GIF.")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            width, height = image.size
            if width * height > BOMB_PIXELS:
                raise ImageRejected(f"{label} has too many pixels ({width}x{height}).")
            image.load()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise ImageRejected(
            f"{label} looks damaged, so I can't read it ({type(exc).__name__})."
        ) from None
    except (Image.DecompressionBombWarning, Image.DecompressionBombError):
        raise ImageRejected(f"{label} has too many pixels to be a real picture.") from None
    if content_type == "image/gif" or _too_big(width, height):
        return _reencode(image)
    return PreparedImage(data, content_type, width, height)


def _too_big(width: int, height: int) -> bool:
    return max(width, height) > MAX_EDGE or width * height > MAX_PIXELS


def _reencode(image: Image.Image) -> PreparedImage:
    image.seek(0)
    frame = image.convert("RGBA")
    if _too_big(*frame.size):
        scale = min(MAX_EDGE / max(frame.size), (MAX_PIXELS / (frame.width * frame.height)) ** 0.5)
        frame = frame.resize((max(1, int(frame.width * scale)), max(1, int(frame.height * scale))))
    out = io.BytesIO()
    frame.save(out, format="PNG", optimize=False)
    return PreparedImage(out.getvalue(), "image/png", frame.width, frame.height)
