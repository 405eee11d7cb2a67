"""The ``triage`` command line: the one package allowed to import every layer (model, serving, evaluation,
training). Nothing imports it back."""
