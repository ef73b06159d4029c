"""``caio mqtt-ingress``: route requests from MQTT devices (docs/mqtt.md).

One more NATS client of the routers: the device's API key is checked, limited
and audited by them; the ingress only moves the request and the reply.
"""

from __future__ import annotations

from typing import Annotated

import typer

from caio.cli._common import daemon_connect_options, run_async
from caio.cli._connect import Bus, connected
from caio.logs import configure_logging

__all__ = ["register_commands"]


@connected(api_key=False)
def mqtt_ingress(
    bus: Bus,
    max_in_flight: Annotated[
        int, typer.Option(min=1, help="Requests forwarded at once; more wait their turn.")
    ] = 1024,
) -> None:
    """Take route requests MQTT devices publish to <prefix>/mqtt/route/<capability>.

    Needs nats-server's MQTT listener (deploy/nats/mqtt/nats-server.conf). Each
    body is {"api_key", "reply_topic", "request"}; the router's reply goes to
    reply_topic, which must be under <prefix>/mqtt/reply/.
    """
    from caio.mqtt_ingress import MqttIngressConfig, serve

    configure_logging()
    config = MqttIngressConfig(
        nats_url=bus.nats_url,
        prefix=bus.prefix,
        connect_options=daemon_connect_options(),
        max_in_flight=max_in_flight,
    )
    run_async(serve(config))


def register_commands(app: typer.Typer) -> None:
    app.command("mqtt-ingress")(mqtt_ingress)
