"""Corpus v2 sources (negatives): filled in by the source mappings of this group."""
