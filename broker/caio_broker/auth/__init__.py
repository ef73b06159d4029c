"""Caller identity, API keys, the route checks and the governance hook."""
