from __future__ import annotations

from fractions import Fraction
from math import comb

import pytest

from apigen_pipeline.dataset.passk import pass_hat_k, run_passk_evaluation, task_pass_hat_k
from apigen_pipeline.environments.base import Environment
from apigen_pipeline.phase1.models import AcceptedBlueprint
from apigen_pipeline.simulated import FaultRates
from apigen_pipeline_tests.phase2.helpers import simulated_client


def test_two_successes_in_four_trials_give_one_sixth_at_k_2() -> None:
    assert task_pass_hat_k(4, 2, 2) == Fraction(1, 6)  # C(2,2)/C(4,2) = 1/6
    assert task_pass_hat_k(4, 2, 1) == Fraction(1, 2)
    assert task_pass_hat_k(4, 2, 3) == 0


def test_pass_hat_k_averages_over_tasks() -> None:
    outcomes = {"a": [True, True, False, False], "b": [True, True, True, True], "c": [False] * 4}
    assert pass_hat_k(outcomes, 2) == (Fraction(1, 6) + 1 + 0) / 3
    assert pass_hat_k(outcomes, 1) == Fraction(6, 12)


@pytest.mark.parametrize(("n", "c", "k"), [(2, 1, 3), (4, 5, 2), (4, 1, 0)])
def test_impossible_inputs_are_refused(n: int, c: int, k: int) -> None:
    with pytest.raises(ValueError):
        task_pass_hat_k(n, c, k)


def test_evaluation_runs_k_trials_per_task_and_reports_pass_1_to_k(environment: Environment,
                                                                   blueprints: list[AcceptedBlueprint]) -> None:
    faults = FaultRates.none().model_copy(update={"agent_skip_confirmation": 0.4})
    evaluation = run_passk_evaluation(blueprints, environment, simulated_client(faults=faults), k=3,
                                      agent_label="simulated-agent", domain="mockshop")
    assert [r.k for r in evaluation.results] == [1, 2, 3]
    assert all(len(trials) == 3 for trials in evaluation.outcomes.values())
    for result in evaluation.results:
        by_hand = sum(Fraction(comb(sum(t), result.k), comb(3, result.k)) for t in evaluation.outcomes.values())
        assert Fraction(result.exact) == by_hand / len(blueprints)
    values = [r.value for r in evaluation.results]
    assert values == sorted(values, reverse=True)  # consistency can only fall as k grows
    assert 0 < values[-1] < values[0] < 1  # the fault rate makes some trials fail
    assert all(a.trajectory_id.split("-")[-2] == "eval" for a in evaluation.attempts)
