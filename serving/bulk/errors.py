"""What stops a bulk job: a usage problem whose message says what to do, a bad input row, Ctrl-C."""

from __future__ import annotations


class BulkError(Exception):
    """The job cannot run as asked (input, output, options, an earlier job): the message says what to do."""


class InputRowError(BulkError):
    """A bad input row with ``--on-error fail``; the message names the file, the line or row and the field."""


class JobInterrupted(BulkError):
    """Ctrl-C: what was committed stays, and a rerun continues from there."""
