"""The smallest useful CAIO service: it says back the text it is sent.

CAIO_API_KEY=caio_... python echo_service.py     # serves echo.yaml on nats://127.0.0.1:4222
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from caio_integration import AIUCPService, WorkResult, serve
from caio_integration.errors import InvalidRequest

CONTRACT = Path(__file__).with_name("echo.yaml")


class EchoService(AIUCPService):
    async def execute(
        self, request: dict[str, Any], context: dict[str, Any] | None = None
    ) -> WorkResult:
        text = request.get("text")
        if not isinstance(text, str):
            raise InvalidRequest("context.text must be a string", details={"field": "text"})
        return WorkResult({"echo": text}, {"chars": len(text)})


if __name__ == "__main__":
    asyncio.run(serve(EchoService(), CONTRACT))
