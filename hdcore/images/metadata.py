"""What a file says about itself beyond its pixels: the ICC profile."""

from __future__ import annotations


def profile_color_space(icc: bytes) -> str | None:
    """'RGB', 'GRAY', 'CMYK', ... from the profile header; None when the bytes are not an ICC profile."""
    if len(icc) < 128 or icc[36:40] != b"acsp":
        return None
    return icc[16:20].decode("ascii", "replace").strip()


def keep_fitting_profile(icc: bytes | None, color_space: str, notes: list[str]) -> bytes | None:
    """An output must not carry a profile for another colour space: viewers would misread its colours."""
    if not icc:
        return None
    found = profile_color_space(icc)
    if found is None:
        notes.append("the embedded ICC profile is unreadable: dropped")
        return None
    if found != color_space:
        notes.append(f"the embedded ICC profile is for {found}, not {color_space}: dropped")
        return None
    return icc
