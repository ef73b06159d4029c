"""The SDK's public names import from the package and from their modules."""

from __future__ import annotations

import caio_integration
from caio_integration import host, service, testing


def test_every_public_name_imports() -> None:
    for name in caio_integration.__all__:
        assert getattr(caio_integration, name) is not None, name


def test_the_service_side_is_public() -> None:
    assert caio_integration.AIUCPService is service.AIUCPService
    assert caio_integration.WorkResult is service.WorkResult
    assert caio_integration.ServiceHost is host.ServiceHost
    assert caio_integration.HostConfig is host.HostConfig
    assert caio_integration.serve is host.serve
    assert set(testing.__all__) <= set(dir(testing))


def test_the_bridge_worker_is_a_layer_on_the_host_not_a_second_runtime() -> None:
    from caio_integration import bridge

    assert bridge.WorkResult is service.WorkResult
    assert issubclass(bridge.WorkerConfig, host.HostConfig)
    assert bridge.WorkerConfig().register is False
