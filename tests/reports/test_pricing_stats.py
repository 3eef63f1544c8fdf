"""The statistics of pricing experiments against published values, hand computation and simulation."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as scipy_stats

from broker import completion as stats_timing
from broker.experiments import stats
from broker.experiments.analysis import ArmData, IntervalMethod, analyse, arm_result, power_analysis, recommend


def test_wilson_interval_matches_scipy_and_is_vectorised():
    intervals = stats.wilson_interval(np.array([47, 44, 0, 50]), np.array([50, 50, 50, 50]))
    for (low, high), k in zip(intervals, (47, 44, 0, 50)):
        expected = scipy_stats.binomtest(k, 50).proportion_ci(method="wilson")
        assert (low, high) == pytest.approx((expected.low, expected.high), abs=1e-9)
    assert intervals[0] == pytest.approx((0.8378, 0.9794), abs=1e-4)  # the 47/50


def test_newcombe_difference_matches_newcombe_1998():
    """Newcombe (1998), Statistics in Medicine 17:873, example (a): 56/70 - 48/80 = 0.2000,
    method 10 interval 0.0524 to 0.3339."""
    difference = stats.proportion_difference(48, 80, 56, 70)
    assert difference.estimate == pytest.approx(0.2)
    assert (difference.low, difference.high) == pytest.approx((0.0524, 0.3339), abs=1e-4)
    assert difference.p_value == pytest.approx(scipy_stats.fisher_exact([[48, 32], [56, 14]]).pvalue)


def test_kaplan_meier_by_hand_with_censoring():
    # times 1,3,5,7,9 finished; three objects unfinished at 10
    durations = np.array([5, 3, 9, 7, 1, 10, 10, 10], dtype=float)
    finished = np.array([1, 1, 1, 1, 1, 0, 0, 0], dtype=bool)
    curve = stats.kaplan_meier(durations, finished)
    # S = prod (1 - 1/at risk): 7/8, 6/8, 5/8, 4/8, 3/8 (no event at 10)
    assert curve.unfinished[:5] == pytest.approx([7 / 8, 6 / 8, 5 / 8, 4 / 8, 3 / 8])
    assert (curve.events, curve.censored) == (5, 3)
    assert curve.at(0.5) == 1.0 and curve.at(7.5) == pytest.approx(0.5)
    median, low, high = stats.survival_quantile(curve, 0.5)
    assert median == 7.0  # the first time S <= 1/2
    assert low is not None and low < median and high is None  # the band never gets below 1/2: no upper bound
    assert np.all(curve.low <= curve.unfinished) and np.all(curve.unfinished <= curve.high)


def test_dropping_unfinished_objects_would_bias_the_median():
    """Censored objects count as still unfinished: the median is later than among finished objects only."""
    durations = np.array([1, 2, 3, 10, 10, 10, 10], dtype=float)
    finished = np.array([1, 1, 1, 0, 0, 0, 0], dtype=bool)
    assert stats.survival_quantile(stats.kaplan_meier(durations, finished))[0] is None  # not estimable yet
    assert stats.survival_quantile(stats.kaplan_meier(durations[:3], finished[:3]))[0] == 2.0


def test_sample_size_gives_its_power_in_simulated_trials():
    """The z-test of two proportions with the computed n per arm rejects about 80% of the time."""
    p1, p2 = 0.9, 0.85
    n = stats.two_proportion_sample_size(p1, p2)
    # Fleiss without continuity correction: (1.95996 sqrt(2 .875 .125) + .84162 sqrt(.09 + .1275))^2 / .05^2 = 685.6
    assert n == 686
    assert stats.two_proportion_power(n, p1, p2) == pytest.approx(0.8, abs=0.002)
    rng = np.random.default_rng(5)
    k1, k2 = rng.binomial(n, p1, 4000), rng.binomial(n, p2, 4000)
    pooled = (k1 + k2) / (2 * n)
    z = (k1 - k2) / n / np.sqrt(pooled * (1 - pooled) * 2 / n)
    assert np.mean(np.abs(z) > 1.959964) == pytest.approx(0.8, abs=0.02)


def test_wilson_and_bootstrap_intervals_cover_about_95_percent():
    rng = np.random.default_rng(2)
    p, n, trials = 0.9, 200, 1000
    k = rng.binomial(n, p, trials)
    intervals = stats.wilson_interval(k, np.full(trials, n))
    assert 0.93 <= np.mean((intervals[:, 0] <= p) & (p <= intervals[:, 1])) <= 0.97
    covered = 0
    for _ in range(300):  # cost per correct label: 10 cents an object, right with p
        right = (rng.random(n) < p).astype(float)
        indices = stats.bootstrap_indices(n, rng, 1000)
        cost = stats.ratio_replicates(np.full(n, 10.0), right, indices)
        low, high = stats.percentile_interval(cost)
        covered += low <= 10.0 / p <= high
    assert 0.92 <= covered / 300 <= 0.98


def _data(name: str, reward: int, right: int, n: int = 100, finished_at: float = 100.0, done: int | None = None):
    done = n if done is None else done
    return ArmData(
        arm=name,
        job=name,
        reward_cents=reward,
        workers_per_object=1,
        seconds=np.where(np.arange(n) < done, np.linspace(1, finished_at, n), finished_at),
        finished=np.arange(n) < done,
        correct=(np.arange(n) < right).astype(int),
        cost_cents=np.full(n, 2.0 * reward),
        confidence=np.full(n, np.nan),
        assignments=n,
        observed_seconds=finished_at,
    )


def test_recommendation_says_how_sure_it_is():
    sure = [_data("low", 1, 98), _data("high", 5, 99)]
    result = recommend([arm_result(d, 1000, np.random.default_rng(0)) for d in sure], 0.9, 1000)
    assert result.arm == "low" and result.confidence > 0.99 and result.reason.startswith("sure")
    # 47/50 against a 0.9 target (the case): cheapest arm, but not sure it meets the target
    close = [_data("low", 1, 47, n=50), _data("high", 5, 50, n=50)]
    result = recommend([arm_result(d, 1000, np.random.default_rng(0)) for d in close], 0.9, 1000)
    assert result.arm == "low" and 0.6 < result.confidence < 0.95
    assert "[83.8%, 97.9%]" in result.reason


def test_analysis_repeats_for_a_seed_and_reports_everything():
    arms = [_data("low", 1, 88, done=90), _data("mid", 3, 93), _data("high", 8, 94, finished_at=40)]
    options = dict(
        experiment="e", design="simultaneous", quality_target=0.85, deadline_seconds=150, smallest_difference=0.05
    )
    first, again = analyse(arms, seed=1, **options).as_json(), analyse(arms, seed=1, **options).as_json()
    assert first == again
    low = first["arms"][0]
    assert (low["completed"], low["censored"]) == (90, 10)
    assert low["cost_per_object_cents"] == pytest.approx(200 / 90, abs=1e-4)  # unfinished objects' cost counts
    assert low["seconds_to_all"] is None and low["finished_by_deadline"] == pytest.approx(0.9)
    assert first["recommendation"]["arm"] == "mid"  # low never finished all its objects
    assert {c["arm"] for c in first["comparisons"]} == {"low", "high"}
    assert first["power"]["objects_per_arm"] == 100


def test_power_analysis_at_the_pooled_accuracy():
    results = [arm_result(_data(n, 1, 90), 1000, np.random.default_rng(0)) for n in ("a", "b")]
    power = power_analysis(results, 0.05, quality_target=0.8)
    assert power.baseline_accuracy == 0.9 and power.objects_per_arm_needed == 686
    assert power.power_now == pytest.approx(stats.two_proportion_power(100, 0.9, 0.85), abs=1e-3)
    assert "with 686 objects per arm a 5-point accuracy difference" in power.statement


def test_html_report_shows_intervals_curves_and_an_axis_from_zero(page, tmp_path):
    from broker.experiments.report import results_html

    arms = [_data("low", 1, 88, done=90), _data("mid", 3, 93), _data("high", 8, 94, finished_at=40)]
    analysis = analyse(
        arms,
        experiment="e",
        design="simultaneous",
        quality_target=0.85,
        deadline_seconds=120,
        smallest_difference=0.05,
        seed=1,
    )
    path = tmp_path / "pricing.html"
    text = results_html(analysis)
    path.write_text(text)
    assert "<script" not in text.lower()
    page.goto(path.as_uri())
    for plot in ("completion", "accuracy", "cost"):
        figure = page.locator(f"#plot-{plot} svg")
        box = figure.bounding_box()
        assert box is not None and box["width"] > 100 and box["height"] > 100, plot
        assert page.locator(f"#plot-{plot} svg path").count() > 5, plot
    accuracy_svg = page.locator("#plot-accuracy svg").inner_html()
    assert "<!-- 0.0 -->" in accuracy_svg and "<!-- 1.0 -->" in accuracy_svg  # matplotlib keeps tick text as comments
    completion_svg = page.locator("#plot-completion svg").inner_html()
    assert "<!-- deadline -->" in completion_svg and "<!-- low ($0.01) -->" in completion_svg
    table = page.locator("table").first.inner_text()
    assert "88.0% [" in table and "90/100" in table  # accuracy with its interval; unfinished objects shown
    assert page.locator("tr.chosen").inner_text().startswith("mid")
    assert "detected 80% of the time" in page.locator("body").inner_text()


def _clustered_arm(rng: np.random.Generator, n: int = 200, workers: int = 12, shared: bool = True) -> ArmData:
    """Each object answered by 3 of `workers`; an object is right unless most of its workers are bad
    (shared: a worker's quality is drawn once, so objects of a bad worker fail together)."""
    object_workers = np.stack([rng.choice(workers, 3, replace=False) for _ in range(n)])
    if shared:
        bad = rng.random(workers) < 0.3
        correct = (bad[object_workers].sum(axis=1) < 2).astype(int)
    else:
        correct = (rng.random(n) < 0.8).astype(int)
    base = _data("arm", 1, 0, n=n)
    return ArmData(**{**base.__dict__, "correct": correct, "object_workers": object_workers})


def test_design_effect_by_hand():
    """Pairs of objects answered by one worker each: 1 + (pair size - 1) x correlation."""
    workers = np.array([[0], [0], [1], [1]])
    assert stats.design_effect(np.array([1, 1, 0, 0]), workers) == pytest.approx(2.0)  # each pair alike
    assert stats.design_effect(np.array([1, 0, 1, 0]), workers) == 1.0  # no correlation within pairs
    # three answers per object: an object's own square counts once, not three times
    alone = np.array([[0, 1, 2], [3, 4, 5], [6, 7, 8], [9, 10, 11]])
    assert stats.design_effect(np.array([1, 1, 0, 0]), alone) == 1.0
    # an unknown object is left out: residuals 2/3 (worker 0), -1/3, -1/3 (worker 1): (4/9 + 4/9) / (6/9)
    assert stats.design_effect(np.array([1, -1, 0, 0]), workers) == pytest.approx(4 / 3)


def test_design_effect_counts_shared_workers_and_widens_the_interval():
    rng = np.random.default_rng(8)
    clustered_arm, independent_arm = _clustered_arm(rng), _clustered_arm(rng, shared=False)
    # the sandwich: shared workers' objects fail together; independent objects do not
    assert stats.design_effect(clustered_arm.correct, clustered_arm.object_workers) > 2
    assert stats.design_effect(independent_arm.correct, independent_arm.object_workers) < 1.5
    clustered = arm_result(clustered_arm, 1e9, np.random.default_rng(0))
    assert clustered.design_effect == pytest.approx(
        stats.design_effect(clustered_arm.correct, clustered_arm.object_workers), abs=1e-3
    )
    width = clustered.accuracy_ci[1] - clustered.accuracy_ci[0]
    wilson = stats.wilson_interval(clustered.correct, clustered.judged)
    assert width > 1.3 * (wilson[1] - wilson[0])
    # the two-way bootstrap counts an object's own noise again through each of its 3 workers (about 4
    # times in all) and adds the clustering on top
    two_way = IntervalMethod("two-way", "arrivals")
    clustered = arm_result(clustered_arm, 1e9, np.random.default_rng(0), two_way)
    independent = arm_result(independent_arm, 1e9, np.random.default_rng(0), two_way)
    assert 3 < independent.design_effect < 5.5 and clustered.design_effect > independent.design_effect + 2


def test_two_way_weights_move_objects_with_their_workers():
    workers = np.array([[0], [0], [1], [1], [-1]])
    for combine in ("additive", "product"):
        weights = stats.two_way_weights(workers, np.random.default_rng(3), 20_000, combine=combine)
        assert weights.shape == (20_000, 5) and (weights >= 0).all()
        assert weights.mean() == pytest.approx(1.0, abs=0.03)
        correlation = np.corrcoef(weights.T)
        assert correlation[0, 1] > 0.3 and correlation[2, 3] > 0.3  # objects of one worker move together
        assert abs(correlation[0, 2]) < 0.03 and abs(correlation[0, 4]) < 0.03  # of different workers: not
    # an object answered by nobody known is resampled as an object alone
    alone = stats.two_way_weights(np.full((3, 0), -1), np.random.default_rng(3), 10)
    assert alone.shape == (10, 3)


def test_local_dispersion_ignores_a_trend_but_not_bursts():
    rng = np.random.default_rng(4)
    steady = rng.poisson(20, 200)
    assert stats_timing.local_dispersion(steady) == pytest.approx(1.0, abs=0.25)
    trend = rng.poisson(np.linspace(5, 60, 200))  # the rate falls over the run: no extra noise
    assert stats_timing.local_dispersion(trend) < 1.4 < trend.var() / trend.mean()
    bursts = np.where(np.arange(200) % 2, 0, 40)  # work in streaks
    assert stats_timing.local_dispersion(bursts) > 20


def test_completion_interval_widens_with_the_noise_of_arrivals():
    arrivals = np.sort(np.random.default_rng(5).uniform(0, 100, 600))  # 200 objects x 3 answers
    base = _data("arm", 1, 90, n=200)
    arm = ArmData(
        **{
            **base.__dict__,
            "seconds": arrivals[2::3],
            "submit_seconds": arrivals,
            "accept_seconds": arrivals - 1,
            "workers_per_object": 3,
        }
    )
    km = arm_result(arm, 1e9, np.random.default_rng(0), IntervalMethod("sandwich", "kaplan-meier"))
    widened = arm_result(arm, 1e9, np.random.default_rng(0))
    assert km.median_completion_seconds == widened.median_completion_seconds
    low, high = km.median_completion_seconds_ci
    assert widened.median_completion_seconds_ci[0] < low and widened.median_completion_seconds_ci[1] > high
    # Poisson arrivals: about 300 answers by the median, so a relative sd of about 1 / sqrt(300) at least
    spread = np.log(widened.median_completion_seconds_ci[1] / widened.median_completion_seconds) / 1.96
    assert spread > 0.9 / np.sqrt(300)


def test_clustered_intervals_cover_the_crowd_level_accuracy():
    """Over fresh crowds of 40 workers (30% bad), the interval covers the accuracy of the crowd
    population about 95% of the time; object-only Wilson intervals fall well short. (With 12 workers
    it reaches about 81%: a sandwich over few clusters runs narrow.)"""
    rng = np.random.default_rng(9)
    # the population value: P(fewer than 2 of 3 distinct workers bad) for a crowd drawn with 30% bad
    runs = [_clustered_arm(rng, workers=40) for _ in range(150)]
    truth = np.mean([_clustered_arm(rng, workers=40).correct.mean() for _ in range(400)])
    results = [arm_result(r, 1e9, np.random.default_rng(i)) for i, r in enumerate(runs)]
    covered = np.mean([r.accuracy_ci[0] <= truth <= r.accuracy_ci[1] for r in results])
    wilson = [stats.wilson_interval(r.correct, r.judged) for r in results]
    naive = np.mean([low <= truth <= high for low, high in wilson])
    assert covered >= 0.88 and naive < 0.6
