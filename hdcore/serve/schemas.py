"""The seed's ``POST /api/ai/hd-image`` contract as pydantic models: what FastAPI checks and documents (OpenAPI)."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import UploadFile
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Format = Literal["png", "jpeg", "jpg", "webp"]


class UpscaleChoices(BaseModel):
    """What a request may choose besides the image: one size, the tier, the output. The engine checks the
    values (sizes, tiers, models); this model checks their types and that one size is asked for."""

    model_config = ConfigDict(extra="forbid")

    scale: float | None = Field(None, description="any factor from 1.1 to 8 (2, 3 and 4 run natively); "
                                                  "4 when no size is given", examples=[4])  # fmt: skip
    width: int | None = Field(None, description="the output's width in px (the aspect is kept: fits within)")
    height: int | None = Field(None, description="the output's height in px")
    longest_side: int | None = Field(None, description="the output's longer side in px")
    fit: Literal["within", "fill"] = Field("within", description="with width and height: fit within the box, "
                                                                 "or fill it and crop the centre")  # fmt: skip
    provider: str = Field("auto", description="auto (the configured chain), or one tier: hf, replicate, space, "
                                              "local, lanczos")  # fmt: skip
    model: str | None = Field(None, description="a model name the tier serves (see `python -m hdcore providers`)")
    fallback: bool = Field(False, description="with a named provider: fall back to the other tiers")
    format: Format = Field("png", description="the output format")
    quality: int | None = Field(None, ge=1, le=100, description="JPEG / WebP quality")

    @field_validator("scale")
    @classmethod
    def whole_scale_stays_whole(cls, scale: float | None) -> float | int | None:
        """4 stays 4, as the seed sent it (the engine then speaks of "scale 4", and runs 4x natively)."""
        return int(scale) if scale is not None and scale.is_integer() else scale

    @model_validator(mode="after")
    def one_size(self) -> "UpscaleChoices":
        given = [self.scale is not None, self.width is not None or self.height is not None,
                 self.longest_side is not None]  # fmt: skip
        if sum(given) > 1 or (self.fit == "fill" and (self.width is None or self.height is None)):
            raise ValueError("give one size: scale, width and/or height (fit fill: both), or longest_side")
        return self


class HDImageRequest(UpscaleChoices):
    """The seed's body (``image`` and ``scale``), plus the choices the engine offers. Unknown fields are refused,
    not ignored."""

    image: str = Field(description="the image as a data URI (data:image/png;base64,...) or bare base64; never a "
                       "file name", examples=["data:image/jpeg;base64,/9j/4AAQSkZJRg..."])


class UploadForm(UpscaleChoices):
    """The multipart form: the image file, and the same choices as the JSON body."""

    file: UploadFile = Field(description="the image file")


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
    scale: float = Field(description="the enlargement made (before a fill's crop)")
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
