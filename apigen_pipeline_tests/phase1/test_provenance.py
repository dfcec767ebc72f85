"""A blueprint's provenance comes from every request behind it: all rounds of its context up to the
accepted one, and for a recombined blueprint its own attempt and its sources."""

from apigen_pipeline.llm.provenance import combined_label, fit_for_training, simulated_label
from apigen_pipeline.phase1.provenance import request_keys, with_provenance
from apigen_pipeline_tests.phase1.test_rows import result


def test_labels_combine_true_false_and_mixed():
    assert simulated_label([True, True]) == "true" and simulated_label([False]) == "false"
    assert simulated_label([True, False]) == "mixed" and simulated_label([]) is None
    assert combined_label(["true", None]) == "true" and combined_label(["true", "false"]) == "mixed"
    assert combined_label([None]) is None
    assert [fit_for_training(label) for label in ("false", "true", "mixed", None)] == [True, False, False, False]


def test_every_round_behind_a_blueprint_and_every_source_of_a_recombination_count():
    phase1 = result()
    keys = request_keys(phase1)
    assert with_provenance(phase1, dict.fromkeys(keys, True)).blueprints[0].simulated == "true"
    revised = next(b for b in phase1.blueprints if b.kind == "simple" and b.rounds_used > 0)
    first_round = next(a for a in phase1.attempts if a.context_id == revised.context_id and a.round == 0)
    # Only the generator's answer of the first, rejected round came from a real model.
    flags = dict.fromkeys(keys, True) | {first_round.request_keys[0]: False}
    labelled = {b.blueprint_id: b.simulated for b in with_provenance(phase1, flags).blueprints}
    assert labelled[revised.blueprint_id] == "mixed"
    others = [b for b in phase1.blueprints if b.kind == "simple" and b.context_id != revised.context_id]
    assert others and all(labelled[b.blueprint_id] == "true" for b in others)
    recombined = [b for b in phase1.blueprints if b.kind == "recombined"]
    assert all(labelled[b.blueprint_id] == ("mixed" if revised.blueprint_id in b.source_blueprint_ids else "true")
               for b in recombined)
    assert with_provenance(phase1, {}).blueprints[0].simulated is None  # nothing logged: unknown
