"""Fuzzing the API from its own /openapi.json with schemathesis (tests/integration/test_openapi_fuzz.py,
scripts/bench/fuzz_openapi.py)."""
