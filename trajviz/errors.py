"""The one exception type for bad user input; the CLI turns it into a message and exit 2."""


class UsageError(ValueError):
    """Input that cannot be used as given; the message names the valid choices."""
