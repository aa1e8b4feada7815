"""
Tests for txchat; run with C{python -m twisted.trial tests}.

The property tests (hypothesis) run with no per-example deadline and
without the "too slow" health check: on a busy two-core CI machine a slow
example says nothing about the code, and a flaky failure hides real ones.
"""

from hypothesis import HealthCheck, settings

settings.register_profile(
    "txchat",
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile("txchat")
