"""Things many tests build: who acts in them, and (see the other helpers here) hubs and data."""

from __future__ import annotations

from services.accounts.audit import Actor

TEST_ACTOR = Actor(None, "test")
"""The acting principal of a test's catalog or account change (audited like any other)."""
