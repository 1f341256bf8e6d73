"""``supportkit serve``: an OpenAI-compatible HTTP API in front of the inference pipeline.

FastAPI + uvicorn; one engine thread owns the model and batches waiting requests. See README "Serving".
Import :func:`create_app` from :mod:`supportkit.serving.app` (this package imports nothing heavy).
"""
