"""Seeded personas for simulated users (the paper drew them from PersonaHub; ours are generated).

A persona is who the user is and how they talk, never what they want: the task's intent comes
from the blueprint. Index i always yields the same persona, so every context is reproducible.
"""

from __future__ import annotations

import hashlib
import random

from pydantic import BaseModel

OCCUPATIONS = (
    "retired schoolteacher", "night-shift nurse", "freelance graphic designer", "graduate student in biology",
    "small bakery owner", "long-haul truck driver", "software engineer at a startup", "high-school football coach",
    "hospital pharmacist", "stay-at-home parent of three", "wedding photographer", "public defender",
    "construction site manager", "dental hygienist", "touring jazz musician", "community college librarian",
    "veterinary technician", "real-estate agent", "airline mechanic", "museum curator", "firefighter",
    "accountant during tax season", "organic farmer", "yoga instructor", "retired army sergeant",
    "restaurant line cook", "city bus driver", "UX researcher", "kindergarten teacher", "hotel concierge",
    "marine biologist", "insurance claims adjuster", "independent bookstore owner", "emergency room doctor",
    "podcast producer", "data analyst at a bank", "carpenter", "translator working from home",
    "college admissions officer", "personal trainer",
)
LIFE_SITUATIONS = (
    "who is moving to a new city next month", "who is planning a family reunion", "on a tight monthly budget",
    "who travels a lot for work", "recovering from a minor surgery", "who just had a baby",
    "preparing for a big exam", "who recently retired", "who is renovating an old house",
    "caring for an elderly parent", "who is starting a side business", "who is organising a charity event",
    "newly married", "whose kids just left for college", "training for a marathon", "who works two jobs",
)
TRAITS = (
    "patient", "impatient", "meticulous", "forgetful", "friendly", "terse", "skeptical", "anxious",
    "cheerful", "formal", "chatty", "direct", "polite but firm", "easily confused by jargon", "demanding",
    "laid-back", "detail-oriented", "indecisive", "assertive", "apologetic",
)
# Second person, as the simulated user reads them: "you <style>".
STYLES = (
    "write short, to-the-point messages", "write long messages with background details",
    "ask clarifying questions before agreeing", "use casual language and abbreviations",
    "are very formal and polite", "repeat key details to be sure they were understood",
    "want everything confirmed twice", "get to the point only after some small talk",
    "prefer numbered lists", "tend to mention one thing at a time",
)
INTERESTS = (
    "gardening", "vintage cameras", "board games", "hiking", "cooking Thai food", "chess", "birdwatching",
    "home brewing", "marathon running", "woodworking", "jazz records", "sci-fi novels", "knitting",
    "rock climbing", "photography", "astronomy", "baking sourdough", "cycling", "fishing", "pottery",
)

PERSONA_SPACE = len(OCCUPATIONS) * len(LIFE_SITUATIONS) * len(TRAITS) * len(STYLES)


class Persona(BaseModel):
    persona_id: str
    occupation: str
    situation: str
    traits: list[str]
    style: str
    interest: str
    description: str


def persona(index: int) -> Persona:
    """The persona with this index (stable across runs and machines)."""
    digest = hashlib.sha256(f"persona:{index}".encode()).digest()
    rng = random.Random(int.from_bytes(digest[:8], "big"))
    occupation = rng.choice(OCCUPATIONS)
    situation = rng.choice(LIFE_SITUATIONS)
    traits = rng.sample(TRAITS, 2)
    style = rng.choice(STYLES)
    interest = rng.choice(INTERESTS)
    article = "an" if occupation[0] in "aeiou" else "a"
    description = (f"You are {article} {occupation} {situation}. You are {traits[0]} and {traits[1]}, "
                   f"you {style}, "
                   f"and in your free time you enjoy {interest}.")
    return Persona(persona_id=f"persona-{index:06d}", occupation=occupation, situation=situation,
                   traits=traits, style=style, interest=interest, description=description)


def sample_persona(rng: random.Random, pool_size: int = 5000) -> Persona:
    return persona(rng.randrange(pool_size))
