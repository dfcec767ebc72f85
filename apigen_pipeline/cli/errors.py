"""How the CLI reports a problem: one line on stderr, an exit code, a traceback only with --verbose."""

from __future__ import annotations

import sys
import traceback

BAD_INPUT = 2        # bad input or a warehouse that cannot be used: nothing was run
RUN_FAILED = 1       # a run failed, or the warehouse is busy right now
PREFIX = "apigen: "


class CliError(Exception):
    """A problem the user can act on; `str()` is the one line to print."""

    def __init__(self, message: str, exit_code: int = BAD_INPUT):
        super().__init__(one_line(message))
        self.exit_code = exit_code


def one_line(message: str) -> str:
    return " ".join(str(message).split())


def expected_errors() -> tuple[type[BaseException], ...]:
    """Errors whose message already names the bad value and what is allowed (one line each).
    Imported on the error path only: the command that raised one has imported its module already."""
    from apigen_pipeline.config import ConfigError
    from apigen_pipeline.environments.registry import EnvironmentContractError, EnvironmentNotFoundError
    from apigen_pipeline.llm.config import SettingsError
    from apigen_pipeline.warehouse.errors import WarehouseError
    from apigen_pipeline.warehouse.migrations import SchemaError
    from apigen_pipeline.warehouse.storage import StorageError

    return (ConfigError, SettingsError, StorageError, SchemaError, WarehouseError, EnvironmentContractError,
            EnvironmentNotFoundError)


def report(error: BaseException, verbose: bool) -> int:
    """Print `error` for a person and return the exit code."""
    if verbose:
        traceback.print_exception(error, file=sys.stderr)
    if isinstance(error, CliError):
        print(PREFIX + str(error), file=sys.stderr)
        return error.exit_code
    if isinstance(error, expected_errors()):
        from apigen_pipeline.warehouse.errors import WarehouseBusyError

        print(PREFIX + one_line(str(error)), file=sys.stderr)
        return RUN_FAILED if isinstance(error, WarehouseBusyError) else BAD_INPUT
    print(f"{PREFIX}unexpected error: {type(error).__name__}: {one_line(str(error))}", file=sys.stderr)
    if not verbose:
        print(f"{PREFIX}rerun with --verbose for the traceback", file=sys.stderr)
    return RUN_FAILED
