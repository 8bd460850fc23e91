"""The error type of the flow package's user-facing argument checks."""

from __future__ import annotations

from motionvla.errors import UserError


class FlowConfigError(UserError, ValueError):
    """A bad flow-estimation argument (method, weights path, frame shape or dtype).

    A ``ValueError``, as the flow API promises, and a :class:`motionvla.errors.UserError`, so the CLI reports
    it as one line instead of a traceback.
    """
