"""``python -m caio_gateway``: see ``caio_gateway.server.main``."""

from caio_gateway.server import main

main()
