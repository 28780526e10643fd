"""The seed's ``POST /api/ai/hd-image`` contract as pydantic models: what FastAPI checks and documents (OpenAPI)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Scale = Literal[2, 3, 4]
Format = Literal["png", "jpeg", "jpg", "webp"]


class HDImageRequest(BaseModel):
    """The seed's body, plus the choices the engine offers. Unknown fields are refused, not ignored."""

    model_config = ConfigDict(extra="forbid")

    image: str = Field(description="the image as a data URI (data:image/png;base64,...) or bare base64; never a "
                       "file name", examples=["data:image/jpeg;base64,/9j/4AAQSkZJRg..."])
    scale: Scale = Field(4, description="2, 3 or 4")
    provider: str = Field("auto", description="auto (the configured chain), or one tier: hf, replicate, space, "
                                              "local, lanczos")  # fmt: skip
    model: str | None = Field(None, description="a model name the tier serves (see `python -m hdcore providers`)")
    fallback: bool = Field(False, description="with a named provider: fall back to the other tiers")
    format: Format = Field("png", description="the output format")
    quality: int | None = Field(None, ge=1, le=100, description="JPEG / WebP quality")


class AttemptRecord(BaseModel):
    """One tier tried: what happened, how long it took, what it cost."""

    tier: int
    provider: str
    model: str | None
    outcome: Literal["ok", "timeout", "error", "skipped"]
    reason: str
    latency_s: float
    cost_usd: float
    cost_kind: Literal["measured", "estimated", "none"]
    output_size: list[int] | None
    warnings: list[str]


class HDImageResponse(BaseModel):
    """The seed's answer: ``success``, the ``image`` as a data URI, the winning ``provider``, every attempt."""

    success: Literal[True]
    image: str = Field(description="data:image/png;base64,... (or image/jpeg, image/webp)")
    provider: str
    model: str | None
    scale: int
    input_size: list[int]
    output_size: list[int]
    cost_usd: float
    warnings: list[str]
    attempts: list[AttemptRecord]
    quality: dict[str, Any] = Field(description="LR-consistency and sharpness of the output")
    run_id: int | None = Field(description="the run's id in the history (None when no history is kept)")


class ErrorResponse(BaseModel):
    """The seed's failure answer: a one-line reason, and the tiers tried (empty when none was)."""

    success: Literal[False]
    error: str
    attempts: list[AttemptRecord]


class Readiness(BaseModel):
    ready: bool
    problems: list[str]
