"""Time resampling (posenas.core.timeseries): exact on motion that is linear between frames."""

from __future__ import annotations

import numpy as np
import pytest

from posenas.core.timeseries import resample_fps, resample_to_length, smooth_gaussian

START = np.array([[0.0, 1.0, -2.0], [3.0, 0.5, 7.0]])
SPEED = np.array([[1.0, 2.0, -1.0], [0.5, -0.25, 3.0]])  # per frame, different per joint and axis


def _motion(positions: np.ndarray) -> np.ndarray:
    """Joints (len(positions), 2, 3) at fractional frame positions of a constant-speed motion."""
    return START + positions[:, None, None] * SPEED


@pytest.mark.parametrize("frames", [2, 3, 9, 40])
def test_resample_to_length_keeps_both_ends_and_is_exact_between(frames):
    x = _motion(np.arange(5.0))
    y = resample_to_length(x, frames)
    np.testing.assert_allclose(y, _motion(np.linspace(0.0, 4.0, frames)), atol=1e-12)
    np.testing.assert_array_equal(y[[0, -1]], x[[0, -1]])


@pytest.mark.parametrize("src,dst,expect_frames", [(120.0, 30.0, 31), (120.0, 50.0, 51), (30.0, 30.0, 121)])
def test_resample_fps_samples_the_same_time_span(src, dst, expect_frames):
    x = _motion(np.arange(121.0))  # 121 frames at `src` fps
    y = resample_fps(x, src, dst)
    assert len(y) == expect_frames
    np.testing.assert_allclose(y, _motion(np.arange(expect_frames) * src / dst), atol=1e-9)


def test_smooth_gaussian_keeps_straight_motion_and_damps_jitter():
    """A constant-speed track is a fixed point away from the ends; alternating jitter loses most of its size."""
    x = _motion(np.arange(40.0))
    y = smooth_gaussian(x, 2.0)
    np.testing.assert_allclose(y[10:-10], x[10:-10], atol=1e-9)  # 5 sigma from either end
    jitter = 0.01 * (-1.0) ** np.arange(40)[:, None, None] * np.ones((1, 2, 3))
    assert np.abs(smooth_gaussian(x + jitter, 1.0) - smooth_gaussian(x, 1.0))[5:-5].max() < 0.002
    assert smooth_gaussian(x, 0.0) is x
    with pytest.raises(ValueError, match="sigma"):
        smooth_gaussian(x, -1.0)
