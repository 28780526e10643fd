"""What every registered provider guarantees, whichever it is: its capabilities declared as data, an exact
output size or a typed error, a deadline or a cancel honoured, and no token in any error. A provider added
to the registry is held to this file without a line of it changing."""

from __future__ import annotations

import socket
import threading
import time

import numpy as np
import pytest

from hdcore import Engine
from hdcore.config import Config, Secret, Setting, secret, url
from hdcore.errors import Cancelled, InvalidInput, ProviderError, ProviderTimeout
from hdcore.providers import PROVIDER_IDS, default_registry, provider_class
from hdcore.providers.base import UpscaleRequest
from hdcore.resize import lanczos_resize
from tests.conftest import photo

SENTINEL = "tok_SENTINEL_contract_0123456789abcdef"


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def unreachable_config(provider_id: str) -> Config:
    """Every secret the provider reads set to the sentinel, every URL pointed at a closed 127.0.0.1 port."""
    info = provider_class(provider_id).info
    raw: dict[str, str] = {}
    for setting in info.settings:
        if setting.parse is secret:
            raw[setting.variable] = SENTINEL
        elif setting.parse is url or setting.variable == "HDCORE_SPACE":
            raw[setting.variable] = f"http://127.0.0.1:{closed_port()}"
    return Config(timeouts={provider_id: 5.0}).with_settings(raw)


def tiny() -> np.ndarray:
    return np.asarray(photo((12, 10)), dtype=np.float32) / 255.0


@pytest.mark.parametrize("provider_id", PROVIDER_IDS)
def test_the_provider_declares_what_it_is(provider_id):
    cls = provider_class(provider_id)
    info = cls.info
    assert info.id == provider_id and info.label and info.short_label and info.cost_note
    assert info.default_timeout_s is None or info.default_timeout_s > 0
    assert info.max_concurrency is None or info.max_concurrency >= 1
    assert all(isinstance(setting, Setting) for setting in info.settings)
    assert set(info.identity) <= set(info.settings)
    assert len({option.name for option in info.options}) == len(info.options)
    provider = cls(Config())
    declared = {option.name for option in info.options}
    for model in provider.models():
        assert model.name and model.scales and set(model.scales) <= {2, 3, 4}
        assert set(model.options) <= declared, f"{model.name} reads an option {provider_id} does not declare"
    assert provider.is_configured() == (not info.requires), "a tier that needs nothing is configured as it is"


@pytest.mark.parametrize("provider_id", PROVIDER_IDS)
def test_building_a_provider_does_no_io(provider_id, monkeypatch):
    def no_network(*args, **kwargs):
        raise AssertionError("a constructor opened a connection")

    monkeypatch.setattr(socket, "create_connection", no_network)
    started = time.monotonic()
    provider_class(provider_id)(unreachable_config(provider_id))
    assert time.monotonic() - started < 0.5


@pytest.mark.parametrize("provider_id", PROVIDER_IDS)
def test_an_answer_is_exactly_the_size_asked_or_a_typed_error_without_the_token(provider_id):
    provider = provider_class(provider_id)(unreachable_config(provider_id))
    model = provider.model_for(None, 2, {}) if provider.scales() else None
    request = UpscaleRequest(image=tiny(), scale=2, model=model, deadline=time.monotonic() + 10.0)
    try:
        output = provider.upscale(request)
    except ProviderError as error:  # the cloud tiers: nothing listens there
        assert SENTINEL not in str(error) and SENTINEL not in repr(error.__cause__)
        assert "\n" not in str(error) and error.provider == provider_id
        return
    image = np.asarray(output.image)
    assert image.shape[:2] == (20, 24), "a provider that answers answers at exactly the size asked"


@pytest.mark.parametrize("provider_id", PROVIDER_IDS)
def test_a_cancelled_request_ends_at_once_with_a_typed_error_or_an_image(provider_id):
    provider = provider_class(provider_id)(unreachable_config(provider_id))
    request = UpscaleRequest(image=tiny(), scale=2, deadline=time.monotonic() + 10.0)
    request.cancel_event.set()
    started = time.monotonic()
    try:
        provider.upscale(request)
    except (Cancelled, ProviderTimeout, ProviderError):
        pass
    assert time.monotonic() - started < 2.0


@pytest.mark.parametrize("provider_id", PROVIDER_IDS)
def test_the_engine_abandons_a_tier_at_its_deadline_and_records_why(provider_id):
    engine = Engine(unreachable_config(provider_id).with_changes(timeouts={provider_id: 0.5}))
    started = time.monotonic()
    try:
        result = engine.enhance(tiny(), 2, provider=provider_id)
        attempts = result.attempts
    except Exception as error:  # AllTiersFailed: the record of why
        attempts = error.attempts
    assert time.monotonic() - started < 0.5 + 2.0
    assert attempts and all(SENTINEL not in (a.reason or "") for a in attempts)
    deadline = time.monotonic() + 2.0
    while time.monotonic() < deadline and any(t.name == f"hdcore-{provider_id}" for t in threading.enumerate()):
        time.sleep(0.05)
    assert not any(t.name == f"hdcore-{provider_id}" for t in threading.enumerate()), "a worker outlived its tier"


def test_every_shipped_provider_is_in_the_default_registry_under_its_module_name():
    registry = default_registry()
    assert registry.names() == list(PROVIDER_IDS)
    assert [info.id for info in registry.infos()] == list(PROVIDER_IDS)


def test_a_bad_option_is_the_callers_mistake_not_the_tiers():
    local = provider_class("local")(Config())
    with pytest.raises(InvalidInput):
        local.model_for(None, 2, {"preset": "turbo"})
    assert lanczos_resize(tiny(), (24, 20)).shape == (20, 24, 3)


def test_a_secret_setting_is_a_secret():
    config = unreachable_config("replicate")
    assert isinstance(config.values["REPLICATE_API_TOKEN"], Secret) and SENTINEL not in repr(config)
