"""Does every listed image decode? Checked before a HICO-DET run, remembered by size and mtime.

A truncated JPEG opens (PIL reads the header) and fails only when its pixels are
decoded, which on HICO-DET is deep inside feature extraction. Decoding a JPEG at
1/8 scale (``Image.draft``) still reads every entropy-coded byte, so it finds
truncation and corruption for a fraction of a full decode. Files already found good
are skipped while their size and modification time are unchanged.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from PIL import Image

from hoilib import artifacts
from hoilib.data.images import UNREADABLE, unreadable
from hoilib.progress import tqdm

# the record of files found good: {path: [size, mtime_ns]}
VERSION = 1


def _stamp(path: Path) -> list[int]:
    st = path.stat()
    return [st.st_size, st.st_mtime_ns]


def decode_error(path: Path) -> str | None:
    """None when the image decodes; otherwise the decoder's complaint."""
    try:
        with Image.open(path) as im:
            # JPEG: decode at the smallest DCT scale; other formats: a no-op, then a full decode
            im.draft("RGB", (1, 1))
            im.load()
    except UNREADABLE as e:
        return str(e) or type(e).__name__
    return None


def verify_images(paths: list[Path], memo: Path) -> dict:
    """Raise DataError naming the first image (in the given order) that does not decode; else the
    record of good files, for the caller to write to ``memo`` once its folder is known writable."""
    old = artifacts.read_json_or_none(memo) or {}
    known = old.get("files", {}) if old.get("version") == VERSION else {}
    stamps = {str(p): _stamp(p) for p in paths}
    todo = [p for p in paths if known.get(str(p)) != stamps[str(p)]]
    if todo:
        # PIL releases the GIL while it decodes, so threads use every core
        with ThreadPoolExecutor(min(8, os.cpu_count() or 1)) as pool:
            errors = list(
                tqdm(
                    pool.map(decode_error, todo),
                    total=len(todo),
                    desc="checking that every image decodes",
                    leave=False,
                    # a bar only where it is long work (HICO-DET's 47,776 images), not a fixture's 30
                    disable=True if len(todo) < 1000 else None,
                )
            )
        for p, err in zip(todo, errors, strict=True):
            if err:
                raise unreadable("image file", p, err)
    return {"version": VERSION, "files": stamps}
