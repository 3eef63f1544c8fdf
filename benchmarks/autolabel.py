"""Automated data labeling benchmark: what the loop saves, and how right its machine labels are, over crowds.

    python benchmarks/autolabel.py --seeds 10                       # digits on the marketplace's simulated crowd
    python benchmarks/autolabel.py --seeds 10 --objects 600         # the first 600 digits (faster)
    python benchmarks/autolabel.py --only digits-20k,text --seeds 3  # the offline crowd (below)
    python benchmarks/autolabel.py --seeds 3 --json                 # plus one JSON object per run

digits (`--crowd marketplace`, the default for it): each seed is one `broker demo --auto-label` run
(broker.demo: the daemon's real ticks on the embedded marketplace, the discrete-event crowd of
broker/marketplace/crowd/ on a simulated clock, so a seed repeats exactly) and, on the same seed's
crowd, one all-human `broker demo` run. Accuracies are against the digits' true labels; cost is
what the broker paid with MTurk's fees, the saving is against labeling every object by the crowd.

digits-20k and text (`--crowd offline`): the whole loop runs offline (broker.autolabel.simulation)
with a bot mix (60 workers: 15% spammers, 25% sloppy ~0.70, the rest good ~0.93; a wrong answer is
uniform over the other classes) and scoring's default consolidation; the all-human baseline labels
every object with the same crowd. digits-20k is made from digits by random 1-pixel shifts and
pixel noise; text is generated product reviews in 4 topics with TF-IDF features
(broker.autolabel.simulation.generated_reviews).

The last lines are the distribution over seeds: the share of crowds whose machine labels reach the
target, the worst machine-label accuracy, the share saving at least 70%, the mean saving, and the
runs whose output is less accurate than the all-human job's.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from broker.autolabel import AutoLabelConfig  # noqa: E402
from broker.autolabel.simulation import Crowd, generated_reviews, simulate, simulate_all_human  # noqa: E402

REWARD_CENTS = 2
WORKERS_PER_OBJECT = 3
SAVING_GOAL = 0.70


@dataclass
class Run:
    """One crowd's outcome, with the all-human job's accuracy on the same crowd."""

    dataset: str
    seed: int
    objects: int
    human_objects: int
    machine_objects: int
    machine_accuracy: float | None
    output_accuracy: float
    all_human_accuracy: float
    saved_fraction: float
    iterations: list[dict[str, Any]]
    seconds: float

    def row(self) -> str:
        last = self.iterations[-1] if self.iterations else {}
        bound = last.get("bound", last.get("threshold_lower_bound"))
        return (
            f"| {self.dataset} | {self.seed} | {self.objects} | {self.human_objects} | {self.machine_objects} "
            f"| {_pct(self.machine_accuracy)} | {_pct(self.output_accuracy)} | {_pct(self.all_human_accuracy)} "
            f"| {_pct(self.saved_fraction)} | {len(self.iterations)} | {_pct(bound)} | {self.seconds:.0f} |"
        )


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


# --------------------------------------------------------------------------- the marketplace's crowd


def demo_run(seed: int, objects: int | None, settings: dict[str, Any], all_human: float | None = None) -> Run:
    """One auto-label demo and one all-human demo on the same seed's crowd (`all_human`: that job's
    accuracy from an earlier run of this benchmark; the all-human job does not change with the loop)."""
    # heavy: the demo starts the embedded marketplace; the offline datasets never need it
    from broker.demo import DemoOptions, run_demo
    from broker.store import dispose_engine, get_engine, reading
    from broker.store.autolabel import autolabel_summary
    from broker.store.views import job_by_id

    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="autolabel-bench-") as folder:
        options = DemoOptions(
            output=Path(folder) / "auto", seed=seed, objects=objects, show_progress=False, auto_label=True
        )
        options.auto_label_settings = settings
        auto = run_demo(options)
        url = f"sqlite:///{Path(folder) / 'auto' / 'demo-broker.db'}"
        with reading(get_engine(url)) as session:
            summary = autolabel_summary(session, job_by_id(session, 1)) or {}
        dispose_engine(url)
        if all_human is None:
            human = run_demo(
                DemoOptions(output=Path(folder) / "human", seed=seed, objects=objects, show_progress=False)
            )
            all_human = float(human.accuracy or 0.0)
    return Run(
        dataset="digits",
        seed=seed,
        objects=auto.objects,
        human_objects=int(summary.get("human_objects", 0)),
        machine_objects=int(auto.machine_labeled or 0),
        machine_accuracy=auto.machine_label_accuracy,
        output_accuracy=float(auto.accuracy or 0.0),
        all_human_accuracy=all_human,
        saved_fraction=float(auto.cost_saved_fraction or 0.0),
        iterations=summary.get("iterations", []),
        seconds=time.perf_counter() - started,
    )


# --------------------------------------------------------------------------- the offline crowd


def augmented_digits(n_objects: int = 20_000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Digits resampled to `n_objects` with a random shift of up to one pixel and Gaussian noise."""
    # heavy: scikit-learn's datasets module, needed only here
    from sklearn.datasets import load_digits

    data = load_digits()
    rng = np.random.default_rng([seed, 20_000])
    base = rng.integers(0, data.target.size, n_objects)
    images = data.images[base].astype(np.float64)
    shifts = rng.integers(-1, 2, size=(n_objects, 2))
    padded = np.pad(images, ((0, 0), (1, 1), (1, 1)))
    rows = (np.arange(8)[None, :] + 1 - shifts[:, :1])[:, :, None]
    cols = (np.arange(8)[None, :] + 1 - shifts[:, 1:])[:, None, :]
    shifted = padded[np.arange(n_objects)[:, None, None], rows, cols]
    noisy = np.clip(shifted + rng.normal(0.0, 1.5, shifted.shape), 0.0, 16.0)
    return noisy.reshape(n_objects, 64) / 16.0, data.target[base]


def text_set(n_objects: int = 4000, seed: int = 0) -> tuple[Any, np.ndarray]:
    """Generated reviews -> TF-IDF features (the job's `features: tfidf`)."""
    # heavy: scikit-learn's text vectoriser, needed only here
    from sklearn.feature_extraction.text import TfidfVectorizer

    texts, truth = generated_reviews(n_objects, seed)
    return TfidfVectorizer(sublinear_tf=True, min_df=2).fit_transform(texts), truth


OFFLINE = {"digits-20k": augmented_digits, "text": text_set}
OFFLINE_MODEL = {"digits-20k": "label-spreading", "text": "logistic-regression"}
OFFLINE_SETTINGS = {
    "digits-20k": {"validation_fraction": 0.04, "human_batch_size": 400},
    "text": {"validation_fraction": 0.07, "human_batch_size": 160},
}


def offline_run(name: str, seed: int, settings: dict[str, Any]) -> Run:
    features, truth = OFFLINE[name]()
    config = AutoLabelConfig(**{"model": OFFLINE_MODEL[name], **OFFLINE_SETTINGS[name], **settings})
    crowd = Crowd.mix(60, seed=seed)
    started = time.perf_counter()
    result = simulate(
        features, truth, config, crowd, per_object=WORKERS_PER_OBJECT, reward_cents=REWARD_CENTS, seed=seed
    )
    baseline = simulate_all_human(truth, crowd, per_object=WORKERS_PER_OBJECT, reward_cents=REWARD_CENTS, seed=seed)
    return Run(
        dataset=name,
        seed=seed,
        objects=result.n_objects,
        human_objects=result.human_objects,
        machine_objects=result.machine_objects,
        machine_accuracy=result.machine_accuracy,
        output_accuracy=result.overall_accuracy,
        all_human_accuracy=baseline.overall_accuracy,
        saved_fraction=result.cost.saved_fraction,
        iterations=[item.summary() for item in result.iterations],
        seconds=time.perf_counter() - started,
    )


# --------------------------------------------------------------------------- the distribution


def distribution(runs: list[Run], target: float) -> str:
    machine = np.asarray([r.machine_accuracy for r in runs if r.machine_accuracy is not None])
    saved = np.asarray([r.saved_fraction for r in runs])
    worse = [r.seed for r in runs if r.output_accuracy < r.all_human_accuracy]
    reached = float(np.mean(machine >= target)) if machine.size else 0.0
    return (
        f"{runs[0].dataset}, {len(runs)} crowds: machine labels >= {target:.0%} on {reached:.0%} of crowds "
        f"(worst {_pct(machine.min() if machine.size else None)}); saved >= {SAVING_GOAL:.0%} on "
        f"{np.mean(saved >= SAVING_GOAL):.0%} (min {_pct(saved.min())}, mean {_pct(saved.mean())}, "
        f"max {_pct(saved.max())}); output below all-human on seeds {worse or 'none'}"
    )


def all_human_accuracies(path: Path, objects: int | None) -> dict[int, float]:
    """{seed: all-human accuracy} of the digits runs in an earlier --json output."""
    found = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("{"):
            run = json.loads(line)
            if run["dataset"] == "digits" and (objects is None or run["objects"] == objects):
                found[int(run["seed"])] = float(run["all_human_accuracy"])
    return found


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", default="digits", help="datasets, comma-separated: digits, digits-20k, text")
    parser.add_argument("--seeds", type=int, default=5, help="crowds: seeds 0..N-1 (plus --first-seed)")
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--objects", type=int, default=None, help="digits: the first N digits only")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="an auto_label setting (YAML value), e.g. --set validation_workers_per_object=5",
    )
    parser.add_argument(
        "--all-human-from",
        type=Path,
        default=None,
        help="the all-human accuracies per seed from an earlier --json output of this benchmark "
        "(same --objects), instead of running the all-human job again",
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    # heavy: yaml parses the --set values only
    import yaml

    settings = {key: yaml.safe_load(value) for key, value in (item.split("=", 1) for item in args.set)}
    target = float(settings.get("target_accuracy", AutoLabelConfig().target_accuracy))
    print(f"settings over the defaults: {settings or 'none'}; target {target}\n")
    print(
        "| dataset | seed | objects | human | machine | machine acc | output acc | all-human acc | saved "
        "| iterations | final bound | seconds |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    summaries = []
    for name in args.only.split(","):
        runs = []
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            if name == "digits":
                # read again per seed: the earlier run may still be writing its file
                known = all_human_accuracies(args.all_human_from, args.objects) if args.all_human_from else {}
                run = demo_run(seed, args.objects, settings, known.get(seed))
            else:
                run = offline_run(name, seed, settings)
            runs.append(run)
            print(run.row(), flush=True)
            if args.json:
                print(json.dumps(run.__dict__))
        summaries.append(distribution(runs, target))
    print()
    for line in summaries:
        print(line)


if __name__ == "__main__":
    main()
