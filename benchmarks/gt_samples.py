"""Ground Truth's 87 public sample templates in headless Chromium: how many work cleanly, are
refused by `broker validate`, or render but break when worked and submitted.

    python benchmarks/gt_samples.py [--only SUBSTRING] [--json]

Reads ../shared/reference/gt-task-uis; the harness is tests/templates/gt_samples.py (the same
one tests/templates/test_gt_samples_browser.py runs). Nothing is fetched from the internet:
samples that need an outside script no package ships are listed as needing the internet.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "templates"))  # the harness shared with the test

from gt_samples import NEEDS_INTERNET, run_sample, sample_context, sample_paths, serve_media  # noqa: E402
from template_helpers import running_hit_server  # noqa: E402

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="", help="run the samples whose path contains this")
    parser.add_argument("--json", action="store_true", help="print one JSON object per sample")
    args = parser.parse_args()
    paths = [p for p in sample_paths() if args.only in p]
    if not paths:
        sys.exit("no samples: ../shared/reference/gt-task-uis is absent (or --only matched none)")
    from playwright.sync_api import sync_playwright  # heavy: only when the benchmark runs

    counts = {"clean": 0, "refused": 0, "broken": 0}
    start = time.perf_counter()
    with running_hit_server() as server, sync_playwright() as playwright:
        serve_media(server)
        browser = playwright.chromium.launch(
            executable_path=shutil.which("chromium") or None, headless=True, args=CHROMIUM_ARGS
        )
        context = sample_context(browser, server)
        page = context.new_page()
        for path in paths:
            outcome = run_sample(page, server, path)
            counts[outcome.status] += 1
            if args.json:
                print(json.dumps({"template": path, "status": outcome.status, "detail": outcome.detail}))
            elif outcome.status != "clean":
                note = f" [needs the internet: {NEEDS_INTERNET[path]}]" if path in NEEDS_INTERNET else ""
                print(f"{outcome.status:8} {path}: {outcome.detail[:300]}{note}")
        browser.close()
    elapsed = time.perf_counter() - start
    print(
        f"{len(paths)} templates: {counts['clean']} clean, {counts['refused']} refused, "
        f"{counts['broken']} broken ({elapsed:.0f} s)"
    )


if __name__ == "__main__":
    main()
