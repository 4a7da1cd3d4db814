"""Corpus readers, tag schemes, vocabularies, the binary cache and batching."""
