"""motionvla."""

from motionvla.utils.startup import remember_installed_distributions

# Before anything imports transformers or diffusers: both scan the installed packages' file lists at import time
# (motionvla/utils/startup.py says what it costs and why this is safe).
remember_installed_distributions()
