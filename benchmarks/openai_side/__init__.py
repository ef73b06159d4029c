"""The OpenAI-side of the CAIO vs LiteLLM benchmark: a fake upstream, LiteLLM's proxy, a load tool.

Kept apart from CAIO's own benchmark roles so the comparison's other side can be
run and checked on its own.
"""
