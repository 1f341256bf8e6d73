"""Support safeguards around generation: intent detection, escalation to a person, groundedness
against the knowledge base, and output guardrails (redaction, leak check, template slots, length).

:class:`~supportkit.guardrails.guard.Guard` ties them together for the inference pipeline.
"""
