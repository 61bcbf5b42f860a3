"""The response cache: exact and semantic, scoped per token by default (``service.py``)."""
