"""End-to-end workflows: inference (and, later, training)."""
