"""The review console: server-rendered pages (Jinja2) for escalation specialists, at ``/review``."""
