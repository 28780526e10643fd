"""What the tests of every page share: engines from settings or scripted tiers, progress events, requests."""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from hdcore import webapp
from hdcore.config import Config
from hdcore.engine import Engine, ProgressEvent
from tests.conftest import ScriptedProvider, png_bytes, scripted_registry

REPO = Path(__file__).resolve().parents[2]
HF_SENTINEL = "hf_SENTINEL_never_shown_1234567890"
REPLICATE_SENTINEL = "r8_SENTINEL_never_shown_0987654321"


def engine_with(**settings: str) -> Engine:
    return Engine(Config.from_env(settings))


def event(provider: str, stage: str, done: int = 0, total: int = 0, message: str = "", tier: int = 1,
          model: str | None = "m") -> ProgressEvent:  # fmt: skip
    return ProgressEvent(tier, provider, model, stage, done, total, message)


def request_for(image: Image.Image, **changes) -> webapp.EnhanceRequest:
    fields = dict(data=png_bytes(image), source_name="photo.png", scale=2, provider="auto")
    fields.update(changes)
    return webapp.EnhanceRequest(**fields)


def scripted_engine(*providers: ScriptedProvider, config: Config | None = None) -> Engine:
    return Engine(config or Config(), scripted_registry(*providers))
