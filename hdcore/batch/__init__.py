"""Batch upscaling: many inputs (files, folders, globs, uploads and zips) through the chain, in parallel where
that pays, with resume, a report per image and a zip of the results.

    inputs    files, folders and globs → items with their output paths
    resume    which outputs of a previous run are complete, and so are kept
    uploads   uploaded files and zips → named images, bounded (the whole batch) before anything is expanded
    names     names from outside (uploads, zip members) as safe, unique file names
    run       the worker pool: one ``Engine.enhance`` per image, results and exit codes
    outputs   atomic writes, attempts.csv, the zip
"""

from .inputs import (
    IMAGE_SUFFIXES, SUFFIXES, BatchItem, FoundInput, expand_inputs, output_name, output_suffix, plan_items,
    size_label,
)  # fmt: skip
from .names import UniqueNames, display_name, safe_parts
from .outputs import CSV_COLUMNS, attempts_csv, write_output, write_zip
from .resume import existing_output
from .run import (
    EXIT_ALL_FAILED, EXIT_BAD_INPUT, EXIT_OK, BatchReporter, BatchSettings, ItemResult, check_settings, exit_code,
    pool_size, process_item, run_batch,
)  # fmt: skip
from .uploads import BatchInput, BatchLimits, batch_inputs, is_zip_name, upload_limit_mb

__all__ = [
    "BatchInput", "BatchItem", "BatchLimits", "BatchReporter", "BatchSettings", "CSV_COLUMNS", "EXIT_ALL_FAILED",
    "EXIT_BAD_INPUT", "EXIT_OK", "FoundInput", "IMAGE_SUFFIXES", "ItemResult", "SUFFIXES", "UniqueNames",
    "attempts_csv", "batch_inputs", "check_settings", "display_name", "existing_output", "exit_code", "expand_inputs",
    "is_zip_name", "output_name", "output_suffix", "plan_items", "pool_size", "process_item", "run_batch", "safe_parts",
    "size_label", "upload_limit_mb", "write_output", "write_zip",
]  # fmt: skip
