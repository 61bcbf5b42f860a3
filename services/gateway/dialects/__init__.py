"""Inbound API dialects: the APIs the gateway answers besides OpenAI chat completions (``base.py``)."""
