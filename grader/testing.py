"""The test API as assignment authors import it (`public_tests.py`, `hidden_tests.py`).

A stable public name over the engine's modules: test files written against
`grader.testing` keep working however the engine is arranged inside.
"""

from grader.engine.compare import describe_value
from grader.engine.sources import derive_seed, dtype_name
from grader.engine.spec import Tolerance
from grader.engine.testing import CaseFailure, TestContext

__all__ = ["CaseFailure", "TestContext", "Tolerance", "derive_seed", "describe_value",
           "dtype_name"]
