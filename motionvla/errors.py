"""Errors a user can cause and fix."""


class UserError(Exception):
    """A mistake in the user's input (config, path, checkpoint, dataset).

    The CLI prints it as a single line and exits with status 2, never with a traceback. The message
    should say what was wrong and what is accepted.
    """
