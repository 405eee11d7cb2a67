"""The serving fixtures (tiny model, a database per test, an app with a key of each role, a real `triage serve`
subprocess), shared with the reliability tests."""

from tests.serving.conftest import (  # noqa: F401  (pytest finds fixtures by name)
    api,
    api_on_each_database,
    database_url,
    env,
    server,
    settings,
    tiny_model,
)
