"""trackstack's load generator, verifier and trace CLI (make load / verify / trace)."""
