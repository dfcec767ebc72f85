"""`apigen`: run the pipeline through Dagster and look at what it did, from the command line.

- `apigen run`: materializes the whole asset graph for one batch of every enabled domain (or the ones
  given) through Dagster itself, recorded in the Dagster instance like runs launched from the UI;
- `apigen status`, `apigen failures`, `apigen report`: read-only views for an operator (recent runs,
  stuck runs, pool slots, spend today; failed items; the funnel). They never start a run and never
  write to the warehouse.

Every bad input (environment, config file, arguments, plugins, storage, a damaged warehouse) is one line
on stderr and exit code 2, found before any Dagster run starts; `--verbose` adds the traceback. Dagster
is imported only by the commands that need it, so `apigen --help` and bad input answer at once.
"""

from apigen_pipeline.cli.app import main

__all__ = ["main"]
