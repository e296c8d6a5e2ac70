import pytest

from algoperf_lite import UserError
from algoperf_lite.tuning.search_space import sample

SPACE = {
    "learning_rate": {"min": 1e-4, "max": 1e-1, "scaling": "log"},
    "warmup_factor": {"min": 0.0, "max": 0.2, "scaling": "linear"},
    "dropout_rate": {"feasible_points": [0.0, 0.1]},
}


def test_seeded_points_repeat_and_respect_bounds():
    a, b, c = sample(SPACE, 20, seed=1), sample(SPACE, 20, seed=1), sample(SPACE, 20, seed=2)
    assert a == b and a != c
    assert all(1e-4 <= p["learning_rate"] <= 1e-1 and 0 <= p["warmup_factor"] <= 0.2 for p in a)
    assert {p["dropout_rate"] for p in a} == {0.0, 0.1}
    # Log scaling: about half the points below the geometric midpoint 3.16e-3.
    assert 6 <= sum(p["learning_rate"] < 10**-2.5 for p in a) <= 14


@pytest.mark.parametrize(
    "space, message",
    [
        ({"lr": {"min": 2, "max": 1, "scaling": "linear"}}, "min 2 is larger than max 1"),
        ({"lr": {"min": 0, "max": 1, "scaling": "log"}}, "log scaling needs a positive min"),
        ({"lr": {"min": 1, "max": 2, "scaling": "cubic"}}, "scaling must be 'log' or 'linear'"),
        ({"lr": {"feasible_points": []}}, "non-empty list"),
        ({}, "non-empty JSON object"),
    ],
)
def test_invalid_spaces_name_the_problem(space, message):
    with pytest.raises(UserError, match=message):
        sample(space, 3)
