"""rayapp on Ray Serve: ``serve run serve/config.yaml`` (see ``serve/app.py``)."""
