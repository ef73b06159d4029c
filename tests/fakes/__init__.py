"""Real, local stand-ins for outside systems (an OpenAI-compatible server, a scripted worker)."""
