"""Where the SDK's data files are: in the checkout, or inside the installed wheel.

A checkout (editable install) keeps them at the repository's top level
(``schemas/``, ``contracts/templates/``: the design card's layout), so
editing one takes effect without reinstalling; a wheel carries copies under
``caio_integration/_data`` (pyproject's ``force-include``).
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["data_dir"]

_REPO_ROOT = Path(__file__).resolve().parents[2]
_WHEEL_DATA = Path(__file__).resolve().parent / "_data"


def data_dir(name: str) -> Path:
    """``schemas`` or ``contracts/templates``: the checkout's copy first, else the wheel's."""
    places = (_REPO_ROOT / name, _WHEEL_DATA / name)
    for candidate in places:
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(
        f"CAIO's {name}/ directory is missing; looked in " + ", ".join(map(str, places))
    )
