"""A plugin wrapping an environment written in another harness's style (see `tools.py` and `plugin.py`)."""
