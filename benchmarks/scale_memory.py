"""Where the operator's memory goes: `nimbusguard ...` with a memory report written every
`--every` seconds (docs/scaling.md, "Memory").

    python -m benchmarks.scale_memory OUT.json [--trace] [--every 20] run --kubeconfig=...

The report (JSON, rewritten in place) holds the process's RSS, its peak and its anonymous
part (/proc/self/status), glibc's own account of the heap (`mallinfo2`: bytes in use, bytes
free but kept in the heap, i.e. fragmentation, and mmapped bytes; Python's small objects live
in its own arenas, outside it) and the threads; with `--trace` also the live objects by type
and the Python allocations still alive grouped by the package that made them (tracemalloc,
one frame: it slows the operator, so a traced run's lag and CPU are not comparable).
"""

from __future__ import annotations

import collections
import ctypes
import ctypes.util
import gc
import json
import os
import sys
import threading
import time
import tracemalloc
from pathlib import Path
from typing import Any


class _MallInfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in (
            "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks",
            "uordblks", "fordblks", "keepcost",
        )
    ]  # fmt: skip


def _libc() -> Any:
    return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")


def mallinfo() -> dict[str, int]:
    """glibc's heap account over all arenas (MB): in use, free in the heap, mmapped."""
    libc = _libc()
    if not hasattr(libc, "mallinfo2"):
        return {}
    libc.mallinfo2.restype = _MallInfo2
    info = libc.mallinfo2()
    mb = 2**20
    return {
        "heap_mb": info.arena // mb,
        "in_use_mb": info.uordblks // mb,
        "free_in_heap_mb": info.fordblks // mb,
        "mmapped_mb": info.hblkhd // mb,
    }


def trim() -> None:
    """Give the heap's free pages back to the system (glibc's malloc_trim(0))."""
    _libc().malloc_trim(0)


def _proc(path: str, keys: tuple[str, ...]) -> dict[str, int]:
    out: dict[str, int] = {}
    try:
        lines = Path(path).read_text().splitlines()
    except OSError:
        return out
    for line in lines:
        name, _, rest = line.partition(":")
        if name in keys:
            out[name] = int(rest.split()[0]) // 1024  # kB → MB
    return out


def _package(filename: str) -> str:
    if "site-packages/" in filename:
        return filename.split("site-packages/", 1)[1].split("/", 1)[0]
    for mine in ("/controllers/", "/nimbusguard/", "/api/", "/benchmarks/"):
        if mine in filename:
            return "project: " + mine.strip("/") + "/" + filename.rsplit(mine, 1)[1].split("/")[0]
    if filename.startswith("<frozen"):
        return "imports (code objects)"
    return "stdlib: " + Path(filename).name


def census(top: int = 25) -> dict[str, Any]:
    """The objects the collector tracks, by type: how many and their own sizes (shallow,
    `sys.getsizeof`), without tracemalloc's slowdown; walking them holds the GIL for about a
    second at a thousand policies, so a census run's lag means nothing either. Strings, ints
    and floats are not tracked by the collector; they show in a container's size only as
    pointers."""
    counts: collections.Counter[str] = collections.Counter()
    sizes: collections.Counter[str] = collections.Counter()
    # The operator freezes what lives long (controllers/collector.py), and frozen objects are
    # not listed: thawed for the walk, frozen again after it (with the young garbage).
    frozen = gc.get_freeze_count()
    gc.unfreeze()
    try:
        objects = gc.get_objects()
    finally:
        if frozen:
            gc.freeze()
    frames: collections.Counter[str] = collections.Counter()
    for o in objects:
        name = type(o).__name__
        counts[name] += 1
        sizes[name] += sys.getsizeof(o)
        if name == "frame":  # a frame object is kept by a traceback (or a live generator)
            code = o.f_code
            frames[f"{Path(code.co_filename).name}:{code.co_name}"] += 1
    del objects
    return {
        "frozen": frozen,
        "frames": dict(frames.most_common(12)),
        "blocks": sys.getallocatedblocks(),
        "by_size_mb": {k: round(v / 2**20, 1) for k, v in sizes.most_common(top)},
        "counts": dict(counts.most_common(top)),
    }


def report(trace: bool, with_census: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {
        "time": time.time(),
        "proc_mb": _proc("/proc/self/status", ("VmRSS", "VmHWM", "RssAnon", "RssFile")),
        "malloc": mallinfo(),
        "threads": threading.active_count(),
        "arena_max": os.environ.get("MALLOC_ARENA_MAX"),
    }
    if with_census:
        out["census"] = census()
    if trace and tracemalloc.is_tracing():  # both walk every object: only in a traced run
        counts = collections.Counter(type(o).__name__ for o in gc.get_objects())
        out["objects"] = dict(counts.most_common(25))
        by: collections.Counter[str] = collections.Counter()
        for stat in tracemalloc.take_snapshot().statistics("filename"):
            by[_package(stat.traceback[0].filename)] += stat.size
        out["traced_mb"] = {k: round(v / 2**20, 2) for k, v in by.most_common(30)}
        out["traced_total_mb"] = round(sum(by.values()) / 2**20, 1)
    return out


def rss_mb() -> int:
    """This process's resident set now (MB)."""
    return _proc("/proc/self/status", ("VmRSS",)).get("VmRSS", 0)


def _writer(out: Path, trace: bool, every: float, stop: threading.Event, counted: bool) -> None:
    while not stop.wait(every):
        try:
            out.write_text(json.dumps(report(trace, counted), indent=2))
        except Exception as exc:  # a report must never stop the operator
            out.with_suffix(".error").write_text(repr(exc))


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    out, trace, counted, every = Path(args.pop(0)), False, False, 20.0
    while args and args[0] in ("--trace", "--census", "--every"):
        flag = args.pop(0)
        if flag == "--trace":
            trace = True
        elif flag == "--census":
            counted = True
        else:
            every = float(args.pop(0))
    # The image installs no development extras: pykube (pytest-kind's) would make kopf import
    # requests and oauthlib, which the deployed operator does not load.
    sys.modules["pykube"] = None  # type: ignore[assignment]
    from nimbusguard import cli

    if trace:
        tracemalloc.start(1)
    stop = threading.Event()
    thread = threading.Thread(target=_writer, args=(out, trace, every, stop, counted), daemon=True)
    thread.start()
    try:
        code: int = cli.main(args)  # nimbusguard's own arguments
    finally:
        stop.set()
        out.write_text(json.dumps(report(trace, counted), indent=2))
    return code


if __name__ == "__main__":
    raise SystemExit(main())
