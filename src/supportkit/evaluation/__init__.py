"""Metrics (ROUGE, semantic similarity, custom), later the evaluator and reports."""
