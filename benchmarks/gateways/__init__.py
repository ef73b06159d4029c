"""The gateways comparison: CAIO's HTTP gateway against LiteLLM, Portkey and TensorZero.

Each gateway runs as its own process(es) in front of one fake OpenAI
upstream, and one load client (``load``) measures them all the same way;
``benchmarks/scenarios/gateways.py`` runs the comparison.
"""
