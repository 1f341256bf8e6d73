"""Peer engines measured beside supportkit's own (built outside the project venv: ``make bench-peers``)."""
