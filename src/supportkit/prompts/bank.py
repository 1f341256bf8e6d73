"""Deprecated alias: the example bank lives in :mod:`supportkit.retrieval.bank` (import it from there;
this module is kept for code written before the move and will be removed)."""

from supportkit.retrieval.bank import BankSnapshot, ExampleBank

__all__ = ["BankSnapshot", "ExampleBank"]
