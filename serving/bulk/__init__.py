"""Bulk scoring: ``triage score --input FILE --output FILE`` for CSV, JSON Lines and Parquet.

Each input row is validated as a ``model.schema.Report`` (the API's schema: same limits, same messages),
scored in batches through the ONNX scorer, given a language by ``LanguageDetector`` and routed by the routing
policy, exactly as ``serving.service`` does for an API request; one output row per input row. Nothing is stored
in the service database.

- ``formats``: CSV, JSON Lines, Parquet, named by a file's suffix; ``errors``: ``BulkError`` and its kinds.
- ``inputs``: reading the input's records and validating them, with an error per bad row.
- ``scoring``: the model, and ``RowScorer.decide``, the one function that turns validated reports into output
  rows: both engines call it.
- ``outputs``: the output's columns and schema, and writing them (appended CSV and JSON Lines, Parquet parts).
- ``job``: the job as asked, its fingerprint and committed progress, the sidecar folder that lets a rerun resume.
- ``local_engine``: ``score_file``, the resumable engine that runs in this process.
- ``ray_engine``: ``score_on_ray``, the Ray Data engine (``--engine ray``).
- ``command``: ``score_command``, the ``triage score`` command (registered in ``triage.cli``).
"""
