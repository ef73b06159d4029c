"""Where the shipped contracts are: in the checkout, or inside the wheel."""

from __future__ import annotations

from pathlib import Path

__all__ = ["bundled_contracts_dir"]

_REPO_ROOT = Path(__file__).resolve().parent.parent
_WHEEL_DATA = Path(__file__).resolve().parent / "_data"


def _find(name: str) -> Path:
    # An editable install or a checkout has them at the top level (the design
    # card's layout); a wheel carries copies under caio/_data.
    places = (_REPO_ROOT / name, _WHEEL_DATA / name)
    for candidate in places:
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(
        f"CAIO's {name}/ directory is missing; looked in " + ", ".join(map(str, places))
    )


def bundled_contracts_dir() -> Path:
    return _find("contracts")
