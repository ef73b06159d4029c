"""The fake OpenAI-compatible HTTP server, for the root suite (tests/integration).

It lives with the Codex worker's own tests, workers/codex/tests/fake_openai.py,
which install without this ``tests`` package and import it as ``fake_openai``
(pytest puts their folder on ``sys.path``). This module loads that one file
under the same name, so both suites share a single copy and a single module.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

__all__ = ["FakeOpenAIServer", "fake_code_for"]

_SOURCE = Path(__file__).resolve().parents[2] / "workers" / "codex" / "tests" / "fake_openai.py"


def _fake_openai() -> ModuleType:
    module = sys.modules.get("fake_openai")
    if module is not None and Path(str(module.__file__)).resolve() == _SOURCE:
        return module
    spec = importlib.util.spec_from_file_location("fake_openai", _SOURCE)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["fake_openai"] = module
    spec.loader.exec_module(module)
    return module


_module = _fake_openai()
FakeOpenAIServer = _module.FakeOpenAIServer
fake_code_for = _module.fake_code_for
