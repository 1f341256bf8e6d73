"""Embeddings and vector search, shared by few-shot selection and knowledge retrieval."""
