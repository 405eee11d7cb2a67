"""Functional tests of the classifier in the manner of HateCheck (Röttger et al. 2021): hand-written cases,
each testing one functionality, in several languages. See ``suite.py``."""
