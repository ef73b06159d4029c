"""Moved: the errors are ``caio_integration.errors`` (the SDK). Kept so old imports work."""

from caio_integration.errors import *  # noqa: F403 - the same names, re-exported
from caio_integration.errors import __all__ as __all__
