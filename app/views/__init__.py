"""One module per view; each is a QWidget that talks to the engine only through the bridge."""
