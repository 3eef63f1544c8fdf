"""Replay of real crowd answers (`worker,task,label` CSV, e.g. ../shared/datasets/*/answers.csv).

Each real worker becomes one bot; a HIT whose data object is task T is answered, in CSV
order, by the real workers who answered T, with their own labels.
"""

from __future__ import annotations

import csv
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path


class ReplayFileError(ValueError):
    """A replay CSV the crowd cannot use; the message names the file and line."""


@dataclass
class ReplayTable:
    workers: list[str]  # real worker ids, in order of first appearance
    answers: dict[str, list[tuple[str, str]]] = field(default_factory=dict)  # task -> [(worker, label)]

    def worker_index(self, worker: str) -> int:
        return self._index[worker]

    def __post_init__(self) -> None:
        self._index = {w: i for i, w in enumerate(self.workers)}

    def label_distribution(self, task: str) -> Counter[str]:
        return Counter(label for _, label in self.answers.get(task, []))

    def labels(self) -> list[str]:
        return sorted({label for pairs in self.answers.values() for _, label in pairs})


def load_replay(path: str | Path) -> ReplayTable:
    path = Path(path)
    if not path.is_file():
        raise ReplayFileError(f"{path}: replay CSV not found")
    workers: dict[str, None] = {}
    answers: dict[str, list[tuple[str, str]]] = defaultdict(list)
    seen: set[tuple[str, str]] = set()
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        missing = {"worker", "task", "label"} - set(reader.fieldnames or [])
        if missing:
            raise ReplayFileError(f"{path}:1: header lacks {', '.join(sorted(missing))} (need worker,task,label)")
        for line, row in enumerate(reader, start=2):
            worker, task, label = (row.get(k) for k in ("worker", "task", "label"))
            if not worker or not task or label is None:
                raise ReplayFileError(f"{path}:{line}: worker, task and label must all be present")
            if (worker, task) in seen:  # a worker answers a HIT once on MTurk: keep the first
                continue
            seen.add((worker, task))
            workers.setdefault(worker, None)
            answers[task].append((worker, label))
    if not answers:
        raise ReplayFileError(f"{path}: no answers")
    return ReplayTable(list(workers), dict(answers))
