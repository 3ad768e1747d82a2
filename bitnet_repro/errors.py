"""One error type for everything a user can get wrong: a bad config value, missing data, a corrupt checkpoint, an
impossible quantization setting. Its message says what went wrong and what to do; the command line prints it
as one line and exits with status 2. Each area subclasses it (ConfigError, DataError, EvalError, ...), keeping
the built-in base that describes it (ValueError for bad values, RuntimeError for a run that cannot proceed)."""


class ReproError(Exception):
    """A user-facing error of the suite; the message says what to do."""
