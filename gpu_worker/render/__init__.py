"""ffmpeg filter graphs and arguments for each export type, as pure functions of the params and the probe.

Coordinates in params are normalised (docs/api.md, "Export params"): x and widths are fractions of the
source frame's width, y and heights of its height, so 0..1 covers the frame whatever its resolution.
Frame numbers count the source's frames at its frame rate from 0 (frame n is at n / fps seconds).
"""

from __future__ import annotations

import math

from gpu_worker.ffmpeg_run import InputError

EPSILON = 1e-6  # slack for fractions computed by the editor (0.1 + 0.9 may be 1.0000000000000002)


def number(value: object, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InputError(f"{what} must be a number")
    return float(value)


def objects(params: dict, field: str, item: str, *, required_by: str | None = None) -> list[tuple[str, dict]]:
    """The list `params[field]` as (label, object) pairs, the label naming the item for messages
    ("clip 0"). With `required_by` (an export type), a missing or empty list is an InputError too."""
    raw = params.get(field)
    if required_by is not None and (not isinstance(raw, list) or not raw):
        raise InputError(f"{required_by} needs at least one {item} ({field} is empty)")
    if not isinstance(raw, list):
        raise InputError(f"{field} must be a list")
    labelled = []
    for i, value in enumerate(raw):
        label = f"{item} {i}"
        if not isinstance(value, dict):
            raise InputError(f"{label} must be an object")
        labelled.append((label, value))
    return labelled


def fraction(value: object, what: str, *, positive: bool = False) -> float:
    """A normalised coordinate: 0..1 (0 excluded when `positive`)."""
    v = number(value, what)
    if v < -EPSILON or v > 1 + EPSILON or (positive and v <= 0):
        raise InputError(f"{what} is {v:g}, outside the frame (coordinates are fractions of the frame, "
                         f"{'above 0' if positive else 'from 0'} to 1)")
    return min(1.0, max(0.0, v))


def even(value: float) -> int:
    """The nearest even size of at least 2: H.264 in yuv420p needs even width and height."""
    return max(2, int(round(value / 2)) * 2)


def even_frame(width: int, height: int) -> str:
    """A filter step dropping the last column or row of an odd-sized frame (H.264 yuv420p needs even
    sizes), or nothing: overlay and annotate keep the source's size."""
    if width % 2 == 0 and height % 2 == 0:
        return ""
    return f"crop={width - width % 2}:{height - height % 2}:0:0,"


def graph_path(path: str) -> str:
    """A path to name inside a filter graph, where ':', quotes, commas and brackets would need escaping."""
    if not path or any(not (c.isalnum() or c in "/_.-") for c in path):
        raise RuntimeError(f"a working path with characters a filter graph cannot take: {path!r}")
    return path
