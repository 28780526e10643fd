"""What every page's decisions share: settings from secrets and the environment, the engine, tier labels and
choices, redaction, the sidebar, and a few small views (headline figures, escaped markdown)."""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import math
import re
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

from .. import health
from ..attempts import Attempt
from ..batch import size_label
from ..batch.names import fitted
from ..config import Config, known_settings
from ..engine import SCALES, Engine
from ..errors import HDCoreError
from ..history import HistoryStore
from ..providers import default_registry
from ..providers.base import AUTO_MODEL, MODEL_CHOICE_NOTES
from ..text import one_line, redacted

# What the uploader accepts (the browser filters by extension; hdcore then sniffs the content, never the name).
UPLOAD_TYPES = ("png", "jpg", "jpeg", "webp", "bmp", "tif", "tiff", "gif")
UPLOAD_FORMATS_TEXT = "PNG, JPEG, WebP, BMP, TIFF or GIF"

def settings_from(environ: Mapping[str, str], secrets: Mapping[str, Any] | None) -> dict[str, str]:
    """The environment overlaid with the top-level scalar values of Streamlit secrets (secrets win).

    Tables (``[section]``) in secrets.toml are left alone: hdcore's settings are all top-level names.
    TOML numbers and booleans become text, as they would be in the environment.
    """
    merged = {str(key): str(value) for key, value in environ.items()}
    for key, value in (secrets or {}).items():
        if isinstance(value, bool):
            merged[str(key)] = "true" if value else "false"
        elif isinstance(value, (str, int, float)):
            merged[str(key)] = str(value)
    return merged


def settings_key(settings: Mapping[str, str]) -> str:
    """A fingerprint of the settings hdcore reads (tokens included, hashed): the shared engine's cache key.

    Only a SHA-256 digest leaves this function, so the key can be logged or hashed by a cache without
    carrying a token. Unrelated environment variables do not change it.
    """
    read = {setting.variable for setting in known_settings()}
    relevant = sorted((k, v) for k, v in settings.items() if k in read)
    digest = hashlib.sha256(repr(relevant).encode("utf-8")).hexdigest()
    return digest[:32]


def load_config(settings: Mapping[str, str]) -> Config:
    """hdcore's ``Config`` from merged settings; raises ``ConfigError`` with a one-line reason."""
    return Config.from_env(settings)


def build_engine(settings: Mapping[str, str], store: HistoryStore | None = None) -> Engine:
    """The app's engine: the settings' config, the history planner when an adaptive order or a cost cap is asked
    for (so the Auto chain the Health page explains is the one that runs), and the store's spend ledger, so the
    daily cap counts every session's and every replica's paid calls."""
    config = load_config(settings)
    ledger = store.spend_ledger() if store is not None else None
    return Engine(config, planner=health.planner_for(config, store), ledger=ledger)


def redact(text: str, config: Config | None) -> str:
    """``text`` with every configured token replaced by ********. hdcore's messages never carry one; this is
    the app's second line of defence for text that did not come from hdcore."""
    return text if config is None else redacted(text, config.secrets())


def error_message(error: BaseException, config: Config | None = None) -> str:
    """A one-line, token-free message for any error."""
    text = one_line(str(error))
    if not isinstance(error, HDCoreError):
        text = f"unexpected {type(error).__name__}" + (f": {text}" if text else "")
    return redact(text or type(error).__name__, config)



AUTO = "auto"


@functools.lru_cache(maxsize=1)
def _short_labels() -> dict[str, str]:
    return {info.id: info.short_label for info in default_registry().infos()}


def short_label(name: str) -> str:
    """A tier's short name as its provider declares it ("Hugging Face"), for tables, charts and the chain's
    arrows; a tier hdcore does not ship (an old history row, a provider made in code) shows its id, titled."""
    return _short_labels().get(name) or name.replace("_", " ").title()


@dataclass(frozen=True)
class ModelView:
    name: str
    scales: tuple[int, ...]
    description: str


@dataclass(frozen=True)
class TierView:
    """One tier as people see it (never its token)."""

    name: str
    label: str  # the provider's own label, e.g. "Hugging Face Inference"
    short: str  # e.g. "Hugging Face"
    configured: bool
    status: str  # "configured" or "not configured (set HUGGINGFACE_TOKEN)"
    in_auto_chain: bool
    timeout_s: float | None
    models: tuple[ModelView, ...]

    @property
    def scales(self) -> tuple[int, ...]:
        return tuple(sorted({s for m in self.models for s in m.scales}))


def tier_view(engine: Engine, name: str) -> TierView:
    described = engine.describe(name)
    return TierView(
        name=name,
        label=described["label"],
        short=short_label(name),
        configured=bool(described["configured"]),
        status=described["status"],
        in_auto_chain=bool(described["in_auto_chain"]),
        timeout_s=described["timeout_s"],
        models=tuple(ModelView(m["name"], tuple(m["scales"]), m["description"]) for m in described["models"]),
    )


def tier_views(engine: Engine) -> list[TierView]:
    """Every tier the registry knows, in registry order (the auto chain first, then e.g. the baseline)."""
    return [tier_view(engine, name) for name in engine.registry.names()]


def provider_options(engine: Engine) -> list[str]:
    """The provider override's choices: "auto", then every tier, configured or not (never hidden)."""
    return [AUTO, *engine.registry.names()]


def provider_label(engine: Engine, name: str) -> str:
    if name == AUTO:
        return "Auto (" + " → ".join(short_label(t) for t in engine.plan(AUTO)) + ")"
    tier = tier_view(engine, name)
    return tier.short if tier.configured else f"{tier.short} — not configured"


AUTO_MODEL_NOTE = MODEL_CHOICE_NOTES[0]  # how the local tier's warning about its auto choice begins
DEFAULT_MODEL = ""  # the model choice meaning "the tier's default" (a select box cannot show None as a choice)


def model_options(engine: Engine, provider: str) -> list[str]:
    """DEFAULT_MODEL (each tier's default for the scale and options), then AUTO_MODEL where the tier picks a model
    per image (the local tier), then the tier's models; the auto chain: the default only."""
    if provider == AUTO:
        return [DEFAULT_MODEL]
    models = [m.name for m in tier_view(engine, provider).models]
    picks = [AUTO_MODEL] if AUTO_MODEL not in models and engine.provider(provider).serves(AUTO_MODEL) else []
    return [DEFAULT_MODEL, *picks, *models]


def model_label(model: str | None) -> str:
    if not model:
        return "Default for the scale"
    return "Auto (picked from the image)" if model == AUTO_MODEL else model


def chosen_model(choice: str | None) -> str | None:
    """The model for ``Engine.enhance``: None for the default."""
    return choice or None


def scale_options(engine: Engine, provider: str, model: str | None = DEFAULT_MODEL) -> list[int]:
    """The scales the chosen provider (and model) can deliver; for auto, what any configured tier delivers.

    A tier that reports no models (e.g. nothing installed) or a choice nobody can serve falls back to every
    scale, so the page always offers something and the run explains what went wrong.
    """
    if provider == AUTO:
        tiers = [tier_view(engine, name) for name in engine.plan(AUTO)]
        scales = {s for tier in tiers if tier.configured for s in tier.scales}
    else:
        tier = tier_view(engine, provider)
        models = [m for m in tier.models if not model or m.name == model]
        scales = {s for m in models for s in m.scales}
    return sorted(scales & set(SCALES)) or list(SCALES)


def default_scale(options: Sequence[int]) -> int:
    return 4 if 4 in options else max(options)




def sidebar_lines(engine: Engine) -> list[str]:
    """One line per tier: ✓ configured / ○ not configured (with what to set)."""
    lines = []
    for tier in tier_views(engine):
        if tier.configured:
            lines.append(f"✓ **{tier.short}**")
        else:
            lines.append(f"○ {tier.short}  \n:small[:gray[{md_escape(tier.status)}]]")
    return lines


# ---------------------------------------------------------------------------------------------- shared views


@dataclass(frozen=True)
class Headline:
    """One figure of a page's headline row (an st.metric)."""

    label: str
    value: str
    help: str = ""


# Streamlit's renderer (1.67) rewrites the text it has parsed, after backslash escapes are gone: GFM's autolink
# literal makes "http://…", "www.…" and "a@b.c" links, ":streamlit:" the logo image, ":name:" an emoji. An
# invisible WORD JOINER after a ":" or "@" that touches the next character, and inside "www.", breaks those
# patterns without changing what people read ("name: reason" keeps its plain ": ").
WORD_JOINER = "\u2060"
_ASCII_PUNCTUATION = frozenset("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")
_TEXT_LINKS = re.compile(r"(\\[:@])(?=\S)|(w)(?=ww\\?\.)", re.IGNORECASE)


def md_escape(text: str) -> str:
    """Text shown exactly as it is inside Streamlit markdown (st.error, st.warning, captions, labels): no emphasis,
    link, image, HTML, icon, colour, emoji or $…$ maths from a user or a server.

    Every ASCII punctuation character is backslash-escaped (CommonMark makes each of them a literal), and the
    text-level rewrites above are broken with a word joiner.
    """
    escaped = "".join("\\" + c if c in _ASCII_PUNCTUATION else c for c in str(text))
    return _TEXT_LINKS.sub(lambda match: (match.group(1) or match.group(2)) + WORD_JOINER, escaped)


def finite(value: float | None, digits: int) -> float | None:
    """A figure for a table cell; an infinite PSNR (identical images) is shown as an empty cell, not "inf"."""
    return None if value is None or not math.isfinite(value) else round(value, digits)


def scrubbed(attempts: Iterable[Attempt], config: Config) -> list[Attempt]:
    """The attempts with any configured token blanked out of their reasons (shown, and stored in the history).
    hdcore's tiers never put one there; a bug's message ("unexpected ...: <text>") might."""
    return [dataclasses.replace(a, reason=redact(a.reason, config)) if a.reason else a for a in attempts]


def download_name(source_name: str, size: float | str, output_format: str) -> str:
    """ "photo_x4.png"; ``size`` is a factor or the label ``batch.size_label`` makes ("w3840": "photo_w3840.png")."""
    stem = source_name.rsplit(".", 1)[0] if "." in source_name else source_name
    stem = "".join(c if c.isalnum() or c in "-_" else "_" for c in stem).strip("_") or "image"
    extension = {"jpeg": "jpg"}.get(output_format, output_format)
    label = size if isinstance(size, str) else size_label(size)
    return fitted(stem, f".{extension}", f"_{label}")  # the uploader's name may be of any length
