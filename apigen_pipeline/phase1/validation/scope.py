"""The tools a blueprint may use: the ones its context sampled (recombined: the union of its sources').

The generator is shown one context: a few write tools from a walk on the API graph and the reads they
need. A blueprint that calls anything else is not the task that context asked for, however plausible,
so the format stage rejects it before execution or any judge.
"""

from __future__ import annotations

from collections.abc import Iterable

from apigen_pipeline.phase1.contexts import TaskContext
from apigen_pipeline.records import FrozenModel


class ToolScope(FrozenModel):
    tools: frozenset[str]        # every tool the context offers (reads and writes)
    write_tools: frozenset[str]  # the write tools the context sampled

    @classmethod
    def of_context(cls, context: TaskContext) -> ToolScope:
        return cls(tools=frozenset(context.tool_names) | frozenset(context.write_tools),
                   write_tools=frozenset(context.write_tools))

    @classmethod
    def union(cls, scopes: Iterable[ToolScope]) -> ToolScope:
        scopes = list(scopes)
        return cls(tools=frozenset().union(*(s.tools for s in scopes)),
                   write_tools=frozenset().union(*(s.write_tools for s in scopes)))
