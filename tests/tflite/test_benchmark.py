"""`kvit.tflite.benchmark`: latency with and without XNNPACK."""

import pytest

from kvit import tflite

pytestmark = pytest.mark.once


def test_both_runtimes_are_timed(vit):
    results = tflite.benchmark(vit.float32, num_threads=1, warmup_runs=2, runs=7)
    assert set(results) == {"xnnpack", "builtin"}
    for result in results.values():
        assert result["runs"] == 7
        assert 0 < result["median_ms"] <= result["p90_ms"]
        assert result["images_per_second"] == pytest.approx(1000 / result["median_ms"])
    assert results["xnnpack"]["partitions"] == 1  # the float ViT runs wholly on XNNPACK
    assert results["builtin"]["partitions"] == 0


def test_one_runtime(vit):
    assert set(tflite.benchmark(vit.int8, runs=3, warmup_runs=0, runtimes=("xnnpack",))) == {"xnnpack"}


@pytest.mark.parametrize(
    "kwargs, match",
    [(dict(runtimes=("gpu",)), "`runtimes` must be a list of some of"), (dict(runtimes=()), "`runtimes` must be a list of some of"), (dict(runs=0), "`runs` must be >= 1")],
)
def test_bad_arguments(vit, kwargs, match):
    with pytest.raises(ValueError, match=match):
        tflite.benchmark(vit.float32, **kwargs)
