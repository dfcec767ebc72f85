"""The pipeline config as typed Dagster config: one `dg.Config` class per section of `PipelineConfig`,
derived from its pydantic models, so the launchpad shows (and lets a person edit) each setting as a
field with its type and description, instead of one JSON string.

Dagster's config types are narrower than pydantic's: a `Literal` becomes a string, a `str | None`
stays optional; `PipelineConfig` validates the whole again when a step loads it, so a value Dagster
cannot type (a misspelt provider) fails there, in one line naming the field.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Mapping
from typing import Any

import dagster as dg
from pydantic import BaseModel, Field, create_model

_SCALARS = (bool, int, float, str)


def dagster_config_class(model: type[BaseModel], values: Mapping[str, Any] | None = None,
                         name: str | None = None) -> type[dg.Config]:
    """A `dg.Config` with the fields of `model` (names, descriptions, Dagster types), each defaulting to
    its value in `values` (a JSON dump of a `model`), else to the model's own default; nested records
    default field by field, so a run config that sets one field keeps every other value."""
    values = values if values is not None else _validated_defaults(model)
    fields: dict[str, Any] = {}
    for field_name, field in model.model_fields.items():
        path = f"{name or model.__name__}_{field_name}"
        nested_model = _record_type(field.annotation)
        if values is None or field_name not in values:
            fields[field_name] = (_dagster_type(field.annotation, path), Field(description=field.description))
            continue
        value = values[field_name]
        if nested_model is not None and isinstance(value, Mapping):
            nested = dagster_config_class(nested_model, value, f"{path}_fields")
            if nested_model is field.annotation:
                fields[field_name] = (nested, Field(default=nested(), description=field.description))
            else:  # Dagster defaults an optional record from its mapping, not from a config instance
                fields[field_name] = (nested | None, Field(default=dict(value), description=field.description))
            continue
        fields[field_name] = (_dagster_type(field.annotation, path),
                              Field(default=value, description=field.description))
    return create_model(name or f"{model.__name__}Fields", __base__=dg.Config, **fields)  # type: ignore[call-overload]


def _record_type(annotation: Any) -> type[BaseModel] | None:
    """The record type of a field typed `R` or `R | None`."""
    union = typing.get_origin(annotation) in (typing.Union, types.UnionType)
    for candidate in (annotation, *(typing.get_args(annotation) if union else ())):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


def _dagster_type(annotation: Any, name: str) -> Any:
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if annotation in _SCALARS:
        return annotation
    if origin is typing.Literal:
        return type(args[0])
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return dagster_config_class(annotation, name=f"{name}_fields")
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in args if a is not type(None)]
        if len(inner) == 1:
            return _dagster_type(inner[0], name) | None
    if origin is list and len(args) == 1:
        return list[_item_type(args[0], name)]  # type: ignore[misc]
    if origin is dict and len(args) == 2 and args[0] is str:
        return dict[str, _item_type(args[1], name)]  # type: ignore[misc]
    raise TypeError(f"no Dagster config type for {annotation!r} ({name})")


def _item_type(annotation: Any, name: str) -> Any:
    """Items of a list or map: a record becomes a mapping (Dagster cannot default a list of nested
    configs); `PipelineConfig` types its fields when the step loads it."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return Any
    return _dagster_type(annotation, name)


def _validated_defaults(model: type[BaseModel]) -> dict[str, Any] | None:
    """The defaults as the model holds them after validation (`"openai:gpt-4o"` -> a model reference),
    in JSON form; None for a model with a required field (its fields then have no default here)."""
    if any(field.is_required() for field in model.model_fields.values()):
        return None
    return model().model_dump(mode="json")
