"""The one exception type for a user's mistake: the CLI prints its message and exits 2."""


class UserError(Exception):
    """Bad input a user can fix: the message names the file or option and what to do."""


class Interrupted(UserError):
    """The user pressed Ctrl-C and the work stopped cleanly (a training run saved where it was): exit 130."""
