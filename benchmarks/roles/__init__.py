"""The processes a benchmark starts: echo service, bare forwarder, CAIO router, load."""
