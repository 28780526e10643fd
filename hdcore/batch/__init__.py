"""Batch upscaling: many inputs (files, folders, globs, uploads and zips) through the chain, in parallel where
that pays, with resume, a report per image and a zip of the results.

    inputs    files, folders and globs → items with their output paths; resume finds what was written
    uploads   uploaded files and zips → named images, bounded before anything is expanded
    run       the worker pool: one ``Engine.enhance`` per image, results and exit codes
    outputs   atomic writes, attempts.csv, the zip
"""

from .inputs import (
    IMAGE_SUFFIXES, SUFFIXES, BatchItem, FoundInput, existing_output, expand_inputs, output_suffix, plan_items,
)  # fmt: skip
from .outputs import CSV_COLUMNS, attempts_csv, write_output, write_zip
from .run import (
    EXIT_ALL_FAILED, EXIT_BAD_INPUT, EXIT_OK, BatchReporter, BatchSettings, ItemResult, check_settings, exit_code,
    pool_size, process_item, run_batch,
)  # fmt: skip
from .uploads import BatchInput, batch_inputs, is_zip_name, read_zip_images, upload_limit_mb

__all__ = [
    "BatchInput", "BatchItem", "BatchReporter", "BatchSettings", "CSV_COLUMNS", "EXIT_ALL_FAILED", "EXIT_BAD_INPUT",
    "EXIT_OK", "FoundInput", "IMAGE_SUFFIXES", "ItemResult", "SUFFIXES", "attempts_csv", "batch_inputs",
    "check_settings", "existing_output", "exit_code", "expand_inputs", "is_zip_name", "output_suffix", "plan_items",
    "pool_size", "process_item", "read_zip_images", "run_batch", "upload_limit_mb", "write_output", "write_zip",
]  # fmt: skip
