"""A real Ray cluster on this machine for the tests that need one: started once, on 127.0.0.1 only, with Ray's
usage statistics off, and shut down at the end of the session."""

from __future__ import annotations

import itertools
import os

import pytest

CLUSTER_CPUS = 2
OBJECT_STORE_BYTES = 256 << 20  # jobs and answers are a few MB at most; Ray's default takes 30 % of memory
# Ray's own switch for a single-node cluster: every address (GCS, raylet, object store) on the loopback.
LOOPBACK_ONLY = {"RAY_USAGE_STATS_ENABLED": "0", "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}
_scopes = itertools.count(1)


@pytest.fixture(scope="session")
def ray_cluster():
    """The cluster's address (host:port); workers import this checkout's modules (the tests' included)."""
    patch = pytest.MonkeyPatch()
    for name, value in LOOPBACK_ONLY.items():
        patch.setenv(name, value)
    import ray

    ray.init(num_cpus=CLUSTER_CPUS, object_store_memory=OBJECT_STORE_BYTES, include_dashboard=False,
             namespace="hdcore", configure_logging=False, log_to_driver=False)  # fmt: skip
    try:
        address = ray.get_runtime_context().gcs_address
        assert address.startswith("127.0.0.1:"), address
        yield address
    finally:
        ray.shutdown()
        patch.undo()


@pytest.fixture
def scope(ray_cluster) -> str:
    """A scope of its own for each test: its own gates and ledger on the shared cluster."""
    return f"test-{os.getpid()}-{next(_scopes)}"
