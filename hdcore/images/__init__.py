"""Reading images in, and writing the upscaled result out, without losing what the source had.

``load_image`` accepts whatever a caller has (bytes, base64, a data URI, a path where paths are allowed, a PIL
image or a numpy array), refuses what is not a usable raster image with a one-line ``InvalidImage`` /
``ImageTooLarge``, and returns a ``SourceImage``: float32 RGB in [0, 1] plus what the output must get back
(alpha, grayscale, 16-bit depth, ICC profile, EXIF / XMP / text). ``compose`` rebuilds the final PIL image at
the output size from the upscaled colour and that record; ``encode_image`` writes it as PNG, JPEG or WebP.
``decode_output`` and ``as_float_rgb`` turn what providers return into the same float32 RGB form.
``read_animation`` / ``write_animation`` do the same for every frame of an animated GIF, WebP or APNG.

Pixels stay float32 from decoding to encoding, so nothing is rounded to 8 bits before it has to be, and 16-bit
colour is written back as 16-bit PNG.

The modules, in the order an image passes through them:

    sources    the bytes behind bytes, base64, a data URI or a path; paths only where allowed, bounded
    sniff      what a byte string is, from its first bytes; one-line reasons for what is no image
    decode     load_image: header check, pixels, orientation, CMYK, into a SourceImage
    deep       16-bit colour: read with OpenCV, carried on a DeepColorImage, written as 16-bit PNG
    planes     float32 colour / alpha planes from PIL images and numpy arrays; EXIF orientation
    bleed      colour under alpha 0 from the nearest visible pixels (no dark fringe once upscaled)
    metadata   ICC profile, EXIF, XMP, PNG text: read, cleaned for the new size, written per format
    compose    check_output_size, compose: the output PIL image from upscaled colour
    encode     encode_image: PNG, JPEG or WebP bytes
    outputs    decode_output, as_float_rgb: providers' answers as float RGB
    animation  animated GIF / WebP / APNG: whole frames in, written back at the new size
"""

from .animation import Animation, AnimationHeader, Frame, probe_animation, read_animation, write_animation
from .compose import check_output_size, compose, crop
from .decode import SourceImage, check_declared_size, load_image
from .deep import DeepColorImage
from .encode import EncodedImage, encode_image, to_data_uri
from .formats import (
    ALPHA_MODES,
    DEFAULT_QUALITY,
    FORMAT_ALIASES,
    FORMATS,
    FULL_CHROMA_QUALITY,
    GRAY_MODES,
    INPUT_FORMATS,
    LUMA_WEIGHTS,
    MAX_SIDE,
    MIME_TYPES,
    SIXTEEN_BIT_GRAY_MODES,
    SUPPORTED_LIST,
    WIDE_GRAY_MODES,
)
from .metadata import METADATA_KEY, Metadata
from .outputs import as_float_rgb, decode_output
from .planes import wide_gray_plane
from .sources import max_source_bytes, read_source_bytes

__all__ = [
    "ALPHA_MODES",
    "DEFAULT_QUALITY",
    "FORMATS",
    "FORMAT_ALIASES",
    "FULL_CHROMA_QUALITY",
    "GRAY_MODES",
    "INPUT_FORMATS",
    "LUMA_WEIGHTS",
    "MAX_SIDE",
    "METADATA_KEY",
    "MIME_TYPES",
    "SIXTEEN_BIT_GRAY_MODES",
    "SUPPORTED_LIST",
    "WIDE_GRAY_MODES",
    "Animation",
    "AnimationHeader",
    "DeepColorImage",
    "EncodedImage",
    "Frame",
    "Metadata",
    "SourceImage",
    "as_float_rgb",
    "check_declared_size",
    "check_output_size",
    "compose",
    "crop",
    "decode_output",
    "encode_image",
    "load_image",
    "max_source_bytes",
    "probe_animation",
    "read_animation",
    "read_source_bytes",
    "to_data_uri",
    "wide_gray_plane",
    "write_animation",
]
