"""trackstack's load generator, verifier and trace CLI (make load / verify / trace)."""

__version__ = "0.1.0"

# Every request says it is synthetic, so nobody mistakes load for users (user_agent.original).
USER_AGENT = f"trackstack-loadgen/{__version__} (synthetic)"
