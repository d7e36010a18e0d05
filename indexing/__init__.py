"""Indexing: loaders, ingestion into Chroma, the docstore and retrieval.

This package knows nothing of chat or training; `assistant` wires it to settings.
"""
