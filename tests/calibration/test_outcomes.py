"""The store's verdicts raise a threshold from labelled photos, never lower it, and only on enough of them."""

from __future__ import annotations

import numpy as np
import pytest

from storelens.calibration.outcomes import weigh

CONFIRMED = np.linspace(0.70, 0.95, 40)  # 40 confirmed announcements, similarities 0.70 to 0.95
# confirmed, rejected, floor, decision, threshold, rejected left
CASES = [
    (CONFIRMED[:10], np.array([0.66]), 0.60, "too-few", 0.60, 1),
    (CONFIRMED, np.array([0.55, 0.58]), 0.60, "none-rejected", 0.60, 0),
    (CONFIRMED, np.array([0.62, 0.66, 0.68]), 0.60, "raised", 0.681, 0),
    (CONFIRMED, np.array([0.64, 0.705]), 0.60, "raised", 0.706, 0),  # loses 1 of 40 confirmed (2.5 %): allowed
    (CONFIRMED, np.array([0.64, 0.90]), 0.60, "raised", 0.641, 1),  # 0.90 would lose 80 %: only 0.64 is cut
    (CONFIRMED, np.array([0.93, 0.94]), 0.60, "would-lose-members", 0.60, 2),
    (np.array([]), np.linspace(0.62, 0.7, 25), 0.60, "raised", 0.701, 0),  # nothing confirmed: nothing to lose
]


@pytest.mark.parametrize(("confirmed", "rejected", "floor", "decision", "threshold", "left"), CASES)
def test_verdicts_move_the_threshold_only_up_and_only_with_reason(confirmed, rejected, floor, decision, threshold,
                                                                  left) -> None:  # fmt: skip
    advice = weigh(confirmed, rejected, floor)
    assert (advice.decision, advice.threshold, advice.rejected_left) == (decision, threshold, left)
    assert advice.threshold >= floor
    if advice.confirmed_kept is not None and decision == "raised":
        assert advice.confirmed_kept >= 0.95
