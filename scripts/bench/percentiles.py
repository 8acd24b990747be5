"""The percentile the benchmarks report: the nearest rank, no interpolation (imported by the scripts
of this folder, which Python puts on sys.path when one of them runs)."""

from __future__ import annotations


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]
