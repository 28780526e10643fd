"""Hugging Face: a dedicated Inference Endpoint, or Inference Providers through the router, per scale.

How each scale (2x, 3x, 4x) is served, first match wins:

    endpoint    HDCORE_HF_ENDPOINT_URL_X<n>, else HDCORE_HF_ENDPOINT_URL: the URL is called as is, with the
                token, one POST of the PNG (``direct.py``). Serves any model its owner deployed; billed per hour.
    server      HDCORE_HF_BASE_URL set: ``{url}/models/{HDCORE_HF_MODEL_X<n>}``, the hf-inference protocol, for
                a server of one's own or a proxy (``direct.py``).
    providers   otherwise: HDCORE_HF_MODEL_X<n> through Inference Providers (``routed.py``, huggingface_hub's
                InferenceClient), provider HDCORE_HF_PROVIDER ("auto": the first that maps the model).

With only a token, the seed's models go the providers way, where nobody serves them today (``catalogue.py``):
the tier says so plainly and is skipped before anything is sent. The token goes to the endpoint's host, the
router and the Hub, and nowhere else; it never appears in a message, a log record or a repr.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Literal, Mapping, Sequence

from ... import images
from ...attempts import Cost, ProviderOutput
from ...config import MAX_PIXELS, Secret, Setting, choice, secret, text, url, whole
from ...errors import AuthError, BadOutput, InvalidImage, InvalidInput, PermanentError
from ..base import ModelInfo, OptionInfo, ProviderInfo, UpscaleRequest
from ..remote import RemoteProvider, displayed_url, fitted
from . import catalogue, routed
from .catalogue import SD_X4
from .direct import DirectRoute, header_safe

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 64 * 1024 * 1024  # never more, whatever the request: an 8192 x 8192 PNG fits
# An answer is at most the requested output with each side doubled (a 2x model answering 4x is fitted down),
# at 8 bytes a pixel (16-bit RGBA, uncompressed), plus room for a PNG's own chunks.
ANSWER_PIXELS_FACTOR = 4
ANSWER_BYTES_PER_PIXEL = 8
ANSWER_MARGIN_BYTES = 1024 * 1024

DEFAULT_MODELS: dict[int, str | None] = {2: catalogue.REAL_ESRGAN_REPLICATE_ID, 3: None, 4: SD_X4}
# The providers huggingface_hub 2.4.0 routes image-to-image to (``inference/_providers/__init__.py``).
IMAGE_TO_IMAGE_PROVIDERS = ("fal-ai", "hf-inference", "replicate", "together", "wavespeed")

TOKEN = Setting("HUGGINGFACE_TOKEN", secret, None, "turns on Hugging Face Inference (and the seed's Space)")
ENDPOINT_URL = Setting("HDCORE_HF_ENDPOINT_URL", url, None,
                       "a dedicated Inference Endpoint, called as is for every scale (billed per hour)")
ENDPOINT_FOR_SCALE = {scale: Setting(f"HDCORE_HF_ENDPOINT_URL_X{scale}", url, None, f"the Endpoint for {scale}x")
                      for scale in (2, 3, 4)}
ENDPOINT_MAX_INPUT_PIXELS = Setting("HDCORE_HF_ENDPOINT_MAX_INPUT_PIXELS", whole(1, MAX_PIXELS), None,
                                    "larger inputs are not sent to the Endpoint")
PROVIDER_NAME = Setting("HDCORE_HF_PROVIDER", choice("auto", *IMAGE_TO_IMAGE_PROVIDERS), "auto",
                        "the Inference Provider (auto: the first that serves the model)")
BASE_URL = Setting("HDCORE_HF_BASE_URL", url, None, "a server of the hf-inference protocol: POST {url}/models/{model}")
ROUTER_URL = Setting("HDCORE_HF_ROUTER_URL", url, routed.DEFAULT_ROUTER_URL, "Hugging Face's router (or a proxy)")
HUB_URL = Setting("HDCORE_HF_HUB_URL", url, routed.DEFAULT_HUB_URL, "the Hub, asked which provider serves a model")
MODEL_FOR_SCALE = {scale: Setting(f"HDCORE_HF_MODEL_X{scale}", text, DEFAULT_MODELS[scale], f"the model for {scale}x")
                   for scale in (2, 3, 4)}
PROMPT = OptionInfo("prompt", "Prompt", "text", "Guides a text-guided model (the SD x4 upscaler), e.g. a sharp photo")

INFO = ProviderInfo(
    id="hf",
    label="Hugging Face Inference",
    short_label="Hugging Face",
    requires="HUGGINGFACE_TOKEN",
    default_timeout_s=10.0,  # the seed's deadline
    max_concurrency=2,  # the free tier rate-limits hard; two calls at once keep a batch from tripping it
    retry_safe=True,  # one HTTP call, billed only when it answers: a failed call can be sent again
    cost_note="Inference Providers: per call at the serving provider's rate; an Inference Endpoint: per hour it runs",
    settings=(TOKEN, ENDPOINT_URL, *ENDPOINT_FOR_SCALE.values(), ENDPOINT_MAX_INPUT_PIXELS, PROVIDER_NAME,
              *MODEL_FOR_SCALE.values(), BASE_URL, ROUTER_URL, HUB_URL),
    identity=(TOKEN, ENDPOINT_URL, *ENDPOINT_FOR_SCALE.values(), BASE_URL, ROUTER_URL, HUB_URL, PROVIDER_NAME),
    options=(PROMPT,),
)

RouteKind = Literal["endpoint", "server", "providers"]


@dataclass(frozen=True)
class Plan:
    """How one model is reached: by which route, under which name, at which URL (None: through the router)."""

    kind: RouteKind
    model: str
    url: str | None = None


class HuggingFaceProvider(RemoteProvider):
    info = INFO
    late_phrase = "before the answer was complete"

    def __init__(self, config):
        super().__init__(config)
        self._direct = DirectRoute()

    def __repr__(self) -> str:
        return f"HuggingFaceProvider(plans={sorted({p.kind for p in self.plans().values()})}, " \
               f"configured={self.is_configured()})"

    # --- what this provider offers -------------------------------------------------------------------

    def plans(self) -> dict[int, Plan]:
        """Each scale this tier serves, and how."""
        base = self.config.get(BASE_URL)
        plans = {}
        for scale in (2, 3, 4):
            endpoint = self.config.get(ENDPOINT_FOR_SCALE[scale]) or self.config.get(ENDPOINT_URL)
            model = self.config.get(MODEL_FOR_SCALE[scale])
            if endpoint:
                plans[scale] = Plan("endpoint", displayed_url(endpoint), endpoint)
            elif model:
                plans[scale] = Plan("server", model, f"{base}/models/{model}") if base else Plan("providers", model)
        return plans

    def plan_for(self, model: str, scale: int) -> Plan:
        """The plan for ``model``: its own when listed, else the scale's route with that model."""
        for plan in self.plans().values():
            if plan.model == model:
                return plan
        base = self.config.get(BASE_URL)
        return Plan("server", model, f"{base}/models/{model}") if base else Plan("providers", model)

    def model_per_scale(self) -> dict[int, str]:
        return {scale: plan.model for scale, plan in self.plans().items()}

    def is_configured(self) -> bool:
        return bool(self.config.get(TOKEN))

    def models(self) -> Sequence[ModelInfo]:
        scales_by_plan: dict[Plan, list[int]] = {}
        for scale, plan in sorted(self.plans().items()):
            scales_by_plan.setdefault(plan, []).append(scale)
        return tuple(self._model_info(plan, tuple(scales)) for plan, scales in scales_by_plan.items())

    def _model_info(self, plan: Plan, scales: tuple[int, ...]) -> ModelInfo:
        if plan.kind == "endpoint":
            return ModelInfo(plan.model, scales, "your Inference Endpoint, called as is",
                             max_input_pixels=self.config.get(ENDPOINT_MAX_INPUT_PIXELS))
        known = catalogue.KNOWN_MODELS.get(plan.model)
        unserved = self._unserved(plan)
        description = unserved or catalogue.description(plan.model)
        side = None if known is None or plan.kind == "providers" else known.max_input_side
        options = ("prompt",) if plan.model == SD_X4 else ()  # the one text-guided model of those we know
        return ModelInfo(plan.model, scales, description, options, max_input_side=side)

    def default_model(self, scale: int, options: Mapping[str, Any]) -> str:
        plan = self.plans().get(scale)
        if plan is None:
            raise InvalidInput(f"no Hugging Face model is configured for {scale}x (set HDCORE_HF_MODEL_X{scale} "
                               f"or HDCORE_HF_ENDPOINT_URL_X{scale})")
        return plan.model

    def preflight(self, model: str, request_size: tuple[int, int], scale: int) -> str:
        """Not sent: a model nobody serves through the router today, or a request over its declared limits."""
        return self._unserved(self.plan_for(model, scale)) or super().preflight(model, request_size, scale)

    def _unserved(self, plan: Plan) -> str:
        # only Hugging Face's own router is known not to serve it; a proxy or another router may
        if plan.kind != "providers" or self.config.get(ROUTER_URL) != routed.DEFAULT_ROUTER_URL:
            return ""
        return catalogue.unserved_reason(plan.model)

    # --- prices --------------------------------------------------------------------------------------

    def estimate_cost(self, model: str, request_size: tuple[int, int], scale: int) -> Cost:
        """Providers: the HDCORE_PRICES figure ("hf:<model>") when given, else unknown; an Endpoint or a server
        of one's own: nothing per call (an Endpoint bills per hour)."""
        if self.plan_for(model, scale).kind != "providers":
            return Cost(0.0, "estimated")
        usd = self.config.prices.get(f"hf:{model}")
        return Cost(usd, "estimated") if usd is not None else Cost(0.0, "none")

    def price_rows(self) -> list[dict[str, Any]]:
        rows = []
        for plan in dict.fromkeys(self.plans().values()):
            if plan.kind == "endpoint":
                rows.append({"Item": plan.model, "Unit": "per hour the Endpoint runs", "USD": None,
                             "Note": catalogue.ENDPOINT_PRICE_NOTE})
            elif plan.kind == "server":
                rows.append({"Item": plan.model, "Unit": "per run", "USD": 0.0,
                             "Note": "the server at HDCORE_HF_BASE_URL bills as its owner decides"})
            else:
                rows.append({"Item": plan.model, "Unit": "per call (the provider's price)",
                             "USD": self.config.prices.get(f"hf:{plan.model}"),
                             "Note": self._unserved(plan) or catalogue.PROVIDERS_PRICE_NOTE})
        return rows

    # --- one upscale ---------------------------------------------------------------------------------

    def upscale(self, request: UpscaleRequest) -> ProviderOutput:
        request = self._with_deadline(request)
        model = request.model or self.default_model(request.scale, request.options)
        scope = self.scope(request, model)
        scope.stop_if_due()
        plan = self.plan_for(model, request.scale)
        unserved = self._unserved(plan)
        if unserved:  # a direct caller: the engine's preflight would have skipped it
            raise scope.error(PermanentError, unserved)
        token = self._token(scope)
        limit = self._max_answer_bytes(request)
        if plan.kind == "providers":
            route = routed.Route(self.config.get(ROUTER_URL), self.config.get(HUB_URL))
            answer: Any = routed.image_to_image(scope, route, self.config.get(PROVIDER_NAME), token, limit)
        else:
            answer = self._direct.call(scope, plan.url, token, limit)
        return self._output(answer, request, model, plan)

    def cancel(self, request: UpscaleRequest) -> None:
        self._direct.cancel(request)  # the router's calls stop at their next chunk or request (routed.py)

    def _secret(self) -> Secret | None:
        return self.config.get(TOKEN)

    def _token(self, scope) -> str:
        secret_value = self.config.get(TOKEN)
        if not secret_value:
            raise scope.error(AuthError, "not configured (set HUGGINGFACE_TOKEN)")
        token = secret_value.reveal()
        if not header_safe(token):
            raise scope.error(AuthError, "HUGGINGFACE_TOKEN holds characters an HTTP header cannot carry")
        return token

    def _max_answer_bytes(self, request: UpscaleRequest) -> int:
        width, height = request.output_size
        pixels = min(width * height * ANSWER_PIXELS_FACTOR, self.config.max_output_pixels)
        return min(MAX_BODY_BYTES, pixels * ANSWER_BYTES_PER_PIXEL + ANSWER_MARGIN_BYTES)

    # --- the image that came back --------------------------------------------------------------------

    def _output(self, data: Any, request: UpscaleRequest, model: str, plan: Plan) -> ProviderOutput:
        try:
            color = images.decode_output(data, max_pixels=self.config.max_output_pixels)
        except InvalidImage as error:
            raise self._error(BadOutput, f"Hugging Face answered with no usable image: {error}", model) from error
        color, warnings = fitted(color, request.output_size, "Hugging Face")
        cost = self.estimate_cost(model, request.size, request.scale) if plan.kind == "providers" \
            else Cost(0.0, "estimated")
        return ProviderOutput(image=color, model=model, cost=cost, warnings=warnings)


PROVIDER = HuggingFaceProvider
