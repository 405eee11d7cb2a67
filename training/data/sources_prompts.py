"""Corpus v2 sources (prompts): filled in by the source mappings of this group."""
