"""The test suite. The helpers in ``tests.factories`` assert, so pytest rewrites their asserts as a test's."""

import pytest

pytest.register_assert_rewrite("tests.factories")
