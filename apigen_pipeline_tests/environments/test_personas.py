import random

from apigen_pipeline.environments.personas import PERSONA_SPACE, persona, sample_persona


def test_personas_are_stable_and_distinct():
    assert persona(42) == persona(42)
    descriptions = {persona(i).description for i in range(500)}
    assert len(descriptions) >= 495
    assert PERSONA_SPACE > 100_000


def test_persona_text_is_second_person_and_grammatical():
    text = persona(3).description
    assert text.startswith("You are a") and text.endswith(".")
    assert "writes" not in text and "asks" not in text


def test_sampling_uses_only_the_given_rng():
    assert sample_persona(random.Random(1)) == sample_persona(random.Random(1))
