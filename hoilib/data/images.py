"""Every image the library reads goes through here, so a missing, truncated or foreign file names itself."""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from hoilib.errors import DataError

# what PIL raises for a truncated, corrupt or foreign file
UNREADABLE = (OSError, SyntaxError, ValueError, Image.DecompressionBombError)


def unreadable(what: str, path, err) -> DataError:
    return DataError(f"{what} {path} cannot be read (truncated, corrupt or not an image): {err}")


def open_rgb(path: str | Path, what: str = "image file") -> Image.Image:
    """The decoded RGB image; a missing or unreadable file raises DataError naming ``what`` and the path.

    PIL decodes lazily, so a truncated JPEG opens fine and fails on first use: the
    conversion here forces the full decode inside the ``try``.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{what} not found: {path}")
    try:
        with Image.open(path) as im:
            return im.convert("RGB")
    except UNREADABLE as e:
        raise unreadable(what, path, e) from e
