"""The utility tools every customer-service domain shares (as in tau-bench): `calculate`, `think` and
`transfer_to_human_agents`. Each domain declares its own spec (description, parameters) for them.

`calculate` takes numbers, + - * / and parentheses only: the expression is parsed and walked, never
`eval`-ed, so an LLM cannot run code through it."""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable
from typing import Any

from apigen_pipeline.environments.base import ToolError
from apigen_pipeline.environments.database import Database

MAX_EXPRESSION_LENGTH = 500
_BINARY: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
}
_UNARY: dict[type, Callable[[Any], Any]] = {ast.UAdd: operator.pos, ast.USub: operator.neg}


def _evaluate(node: ast.AST) -> float:
    if isinstance(node, ast.Expression):
        return _evaluate(node.body)
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        return node.value
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        return _BINARY[type(node.op)](_evaluate(node.left), _evaluate(node.right))
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        return _UNARY[type(node.op)](_evaluate(node.operand))
    raise ToolError("only numbers, + - * / and parentheses are allowed")


def evaluate_arithmetic(expression: str) -> str:
    """The value rounded to cents, as text; a ToolError for anything else."""
    if len(expression) > MAX_EXPRESSION_LENGTH:
        raise ToolError(f"expression longer than {MAX_EXPRESSION_LENGTH} characters")
    try:
        tree = ast.parse(expression.strip(), mode="eval")
    except SyntaxError as error:
        raise ToolError(f"invalid expression: {error.msg}") from None
    try:
        return str(round(float(_evaluate(tree)), 2))
    except ZeroDivisionError:
        raise ToolError("division by zero") from None


def calculate(db: Database, expression: str) -> str:
    return evaluate_arithmetic(expression)


def think(db: Database, thought: str) -> str:
    return ""


def transfer_to_human_agents(db: Database, summary: str) -> str:
    return "Transfer successful"
