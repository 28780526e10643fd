"""Shared fixtures: real photos from scikit-image, and a registry of scripted providers for engine tests."""

from __future__ import annotations

import io
import threading
import time
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import pytest
from PIL import Image

from hdcore.attempts import Cost, ProviderOutput
from hdcore.config import Config, Setting, secret
from hdcore.providers.base import ModelInfo, Provider, ProviderInfo, UpscaleRequest
from hdcore.providers import ProviderSpec, Registry
from hdcore.resize import lanczos_resize


def photo(size: tuple[int, int] = (64, 48)) -> Image.Image:
    """A real photo (scikit-image's astronaut) cut to ``size`` = (width, height)."""
    from skimage import data

    width, height = size
    return Image.fromarray(data.astronaut()[100 : 100 + height, 180 : 180 + width])


def png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture
def photo_png() -> bytes:
    return png_bytes(photo())


Behaviour = Callable[[UpscaleRequest], Any]
# What identifies a scripted tier's configuration (its breaker fingerprint): Config(values={SCRIPTED_TOKEN: ...}).
SCRIPTED_TOKEN = Setting("SCRIPTED_TOKEN", secret)


def good(request: UpscaleRequest) -> np.ndarray:
    return lanczos_resize(request.image, request.output_size)


class ScriptedProvider(Provider):
    """A provider whose upscale does whatever its test says; it records the requests and cancels it saw."""

    def __init__(
        self,
        config: Config,
        name: str,
        behaviour: Behaviour = good,
        *,
        configured: bool = True,
        scales: Sequence[int] = (2, 3, 4),
        model_names: Sequence[str] = ("m-default",),
        cost: Cost | None = None,
        max_concurrency: int | None = None,
        retry_safe: bool = False,
        bills_failed_calls: bool = False,
    ):
        super().__init__(config)
        self.info = ProviderInfo(
            id=name, label=name.title(), short_label=name.title(), requires=f"{name.upper()}_TOKEN",
            max_concurrency=max_concurrency, retry_safe=retry_safe, bills_failed_calls=bills_failed_calls,
            settings=(SCRIPTED_TOKEN,), identity=(SCRIPTED_TOKEN,),
        )  # fmt: skip
        self.behaviour = behaviour
        self.configured = configured
        self._models = tuple(ModelInfo(m, tuple(scales)) for m in model_names)
        self.cost = cost or Cost()
        self.requests: list[UpscaleRequest] = []
        self.cancelled: list[UpscaleRequest] = []
        self.threads: list[str] = []

    def models(self) -> Sequence[ModelInfo]:
        return self._models

    def default_model(self, scale: int, options: Mapping[str, Any]) -> str:
        return self._models[0].name

    def is_configured(self) -> bool:
        return self.configured

    def estimate_cost(self, model: str, request_size: tuple[int, int], scale: int) -> Cost:
        return self.cost if self.cost.kind != "none" else Cost(0.0, "estimated")

    def upscale(self, request: UpscaleRequest) -> ProviderOutput:
        self.requests.append(request)
        self.threads.append(threading.current_thread().name)
        image = self.behaviour(request)
        return ProviderOutput(image=image, model=request.model, cost=self.cost)

    def cancel(self, request: UpscaleRequest) -> None:
        self.cancelled.append(request)


def scripted_registry(*providers: ScriptedProvider, extra: Sequence[ScriptedProvider] = ()) -> Registry:
    """A registry whose auto chain is ``providers`` in order; ``extra`` providers are only used when named."""
    specs = [ProviderSpec(p.name, _returning(p)) for p in providers]
    specs += [ProviderSpec(p.name, _returning(p), in_auto_chain=False) for p in extra]
    return Registry(specs)


def _returning(provider: ScriptedProvider) -> Callable[[Config], Provider]:
    return lambda config: provider


def sleeper(seconds: float) -> Behaviour:
    """A provider that ignores its deadline and its cancel flag (the worst case the engine must survive)."""

    def behaviour(request: UpscaleRequest) -> np.ndarray:
        time.sleep(seconds)
        return good(request)

    return behaviour


@pytest.fixture(autouse=True)
def closed_breakers():
    """Circuit breakers and today's spend are per process: each test starts as a fresh process would."""
    from hdcore.engine.breaker import process_breakers
    from hdcore.engine.budget import process_ledger

    process_breakers.clear()
    process_ledger.clear()
    yield
    process_breakers.clear()
    process_ledger.clear()


@pytest.fixture(scope="session")
def postgres_cluster():
    """A real PostgreSQL server for the whole session (see tests/postgres_cluster.py), always torn down."""
    from tests.postgres_cluster import PostgresCluster

    cluster = PostgresCluster.create()
    try:
        yield cluster
    finally:
        cluster.destroy()


@pytest.fixture
def postgres_url(postgres_cluster) -> str:
    """The URL (with its password) of a new, empty schema on the session's server: an empty database to the store."""
    return postgres_cluster.create_schema()


@pytest.fixture(params=["sqlite", "postgresql"])
def store_location(request, tmp_path):
    """What ``open_store`` takes, once per backend: a folder for a new SQLite file, or a new PostgreSQL database."""
    if request.param == "sqlite":
        return tmp_path / "data"
    return request.getfixturevalue("postgres_url")
