"""argparse types shared by the commands: each refusal is argparse's one line naming the flag."""

from __future__ import annotations

import argparse
from typing import Callable

from ..config import NumberRange
from ..errors import ConfigError


def within(bounds: NumberRange) -> Callable[[str], int]:
    """An argparse type for a number within ``bounds``: "argument --jobs: must be a whole number from 1 to 256"."""

    def parse(text: str) -> int:
        try:
            return bounds("", text)
        except ConfigError as error:
            raise argparse.ArgumentTypeError(str(error).strip()) from None

    return parse


def at_least(low: int) -> Callable[[str], int]:
    """An argparse type for a whole number of ``low`` or more: "argument --width: must be 1 or more"."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a whole number, not {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be {low} or more")
        return value

    return parse
