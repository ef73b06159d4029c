"""One module per scenario; each returns a JSON-able dict of CAIO vs its baseline."""
