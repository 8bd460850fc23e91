"""Errors a user can cause and fix."""


class UserError(Exception):
    """A mistake in the user's input (config, path, checkpoint, dataset).

    The CLI prints it as a single line and exits with status 2, never with a traceback. The message
    should say what was wrong and what is accepted.
    """


class CheckpointError(UserError):
    """A checkpoint (a policy's or forecaster's ``pretrained_model``, or a training checkpoint) is incomplete,
    corrupt, or does not match the config it is loaded with. One class for all of them, so a caller catches one."""
