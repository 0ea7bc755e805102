"""A batch's outcome: one :class:`ItemResult` per video, the end-of-run table, and
``OUTDIR/batch-report.json`` (written atomically)."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from glot_blender.core.safe_files import publishing

REPORT_NAME = "batch-report.json"
REPORT_SCHEMA = "glot-batch-report/1"
#: the states a video ends in; "failed" and "cancelled" make the exit status non-zero
STATUSES = ("done", "skipped", "failed", "cancelled", "not started")


@dataclass
class ItemResult:
    """What became of one video. ``reason``: the one-sentence error (failed) or why it was
    skipped; ``node``/``worker_pid``: where it ran last; ``attempts``: analyses started
    (more than one when a worker died under it); ``peak_rss_mb``: the worker's peak memory; ``worker_cpu_s``: CPU seconds its worker
    process had used when this video ended (model loading included); ``traceback``: only for
    an unexpected error (a bug), so that it can be reported."""

    rel: str
    source: str
    output: str
    status: str
    reason: str = ""
    node: str = ""
    worker_pid: int = 0
    attempts: int = 0
    seconds: float = 0.0
    frames: int = 0
    people: int = 0
    backend: str = ""
    fbx: list[str] = field(default_factory=list)
    peak_rss_mb: float = 0.0
    worker_cpu_s: float = 0.0
    notices: list[str] = field(default_factory=list)
    traceback: str = ""


@dataclass
class BatchSummary:
    """The whole batch: results in input order, its settings and how long it took."""

    results: list[ItemResult]
    workers: int
    cpus_per_worker: float
    gpus_per_worker: float
    address: str
    seconds: float
    interrupted: bool = False

    def count(self, status: str) -> int:
        return sum(r.status == status for r in self.results)

    @property
    def ok(self) -> bool:
        return not self.interrupted and all(r.status in ("done", "skipped") for r in self.results)

    def to_json(self) -> dict:
        return {
            "schema": REPORT_SCHEMA,
            "counts": {s: self.count(s) for s in STATUSES},
            "interrupted": self.interrupted,
            "workers": self.workers,
            "cpus_per_worker": self.cpus_per_worker,
            "gpus_per_worker": self.gpus_per_worker,
            "address": self.address,
            "seconds": round(self.seconds, 3),
            "videos": [asdict(r) for r in self.results],
        }


def write_report(outdir: str | os.PathLike[str], summary: BatchSummary) -> Path:
    """Writes ``OUTDIR/batch-report.json`` atomically (temporary file beside it, then rename)."""
    target = Path(outdir) / REPORT_NAME
    with publishing(target, suffix=".json") as temp:
        temp.write_text(json.dumps(summary.to_json(), indent=2) + "\n", encoding="utf-8")
    return target


def format_table(summary: BatchSummary) -> str:
    """One row per video (status, people, frames, seconds, node, reason), then the counts."""
    rows = [("video", "status", "people", "frames", "seconds", "node", "reason")]
    for r in summary.results:
        ran = r.status in ("done", "failed", "cancelled") and r.attempts > 0
        tries = f" (attempt {r.attempts})" if r.attempts > 1 else ""
        rows.append((r.rel, r.status + tries, str(r.people) if r.status == "done" else "",
                     str(r.frames) if r.frames else "", f"{r.seconds:.1f}" if ran else "",
                     r.node, r.reason))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths)) + "  " + row[-1]
             for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths) + "  ------")
    counts = ", ".join(f"{summary.count(s)} {s}" for s in STATUSES if summary.count(s))
    lines.append(f"{counts or 'nothing to do'} in {summary.seconds:.1f}s "
                 f"({summary.workers} worker(s))")
    return "\n".join(line.rstrip() for line in lines)
