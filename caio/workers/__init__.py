"""The workers the ``caio`` command can run: built-in by name, or yours as module:Class."""
