"""CAIO integration SDK: connect an AI service to CAIO, or call CAIO, over NATS.

The public surface, re-exported here; everything else is an implementation
detail that may change::

    from caio_integration import AIUCPService, CAIOClient, ServiceContract, serve

The wire protocol's messages are in ``caio_integration.wire``, the errors
(one tree, each with its stable wire code) in ``caio_integration.errors``,
every subject in ``caio_integration.subjects``.
"""

from caio_integration.bridge import BridgeWorker, WorkerConfig
from caio_integration.client import CAIOClient, SyncCAIOClient
from caio_integration.contracts import (
    ServiceContract,
    contract_errors,
    load_contract_file,
    parse_contract,
    parse_contract_yaml,
)
from caio_integration.errors import CAIOError
from caio_integration.host import HostConfig, ServiceHost, serve
from caio_integration.service import AIUCPService, WorkResult
from caio_integration.subjects import Subjects

__version__ = "0.2.0"

__all__ = [
    "AIUCPService",
    "BridgeWorker",
    "CAIOClient",
    "CAIOError",
    "HostConfig",
    "ServiceContract",
    "ServiceHost",
    "Subjects",
    "SyncCAIOClient",
    "WorkResult",
    "WorkerConfig",
    "contract_errors",
    "load_contract_file",
    "parse_contract",
    "parse_contract_yaml",
    "serve",
]
