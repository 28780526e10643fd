"""Every decision the web app makes, in plain Python, one module per page; the Streamlit pages only lay out
what these decide. Nothing here imports Streamlit, so all of it is unit-tested without a browser
(``tests/webapp/``).

    common           settings from secrets and the environment, the shared engine, tier labels and choices,
                     redaction, the sidebar, headline figures
    narration        a run told as it happens (progress events → status lines), cancelled when the page reruns
    sizing           the output size: a factor, a width and/or height, a longest side; where it lands
    enhance_page     options, upload, one run and its outcome, result views, attempts, session totals
    animated_page    an animated upload: every frame or the first, the estimate, the cloud's cost, the run
    qa_page          provider/model comparisons on one image; sweeps over a set of references, past sweeps
    batch_page       uploads and zips into a batch, its progress and results
    providers_page   each tier's configuration (never a token), models, settings, prices, probes
    history_page     stored runs
    health_page      the Auto order, rolling figures, cost caps, circuit breakers
    compare_slider   the self-contained before/after viewer

No function here returns a token: settings become a ``Config`` (whose tokens are ``Secret`` objects), tiers are
described by ``Engine.describe`` (configured or not, never the value), and every message shown to a person goes
through ``redact`` with the configured tokens.
"""

from . import compare_slider  # noqa: F401
from .common import (  # noqa: F401
    UPLOAD_TYPES, UPLOAD_FORMATS_TEXT, settings_from, settings_key, load_config, build_engine, redact,
    error_message, AUTO, short_label, ModelView, TierView, tier_view, tier_views, provider_options,
    provider_label, AUTO_MODEL_NOTE, DEFAULT_MODEL, model_options, model_label, chosen_model, scale_options,
    default_scale, sidebar_lines, Headline, md_escape, finite, scrubbed, download_name,
)
from .narration import (  # noqa: F401
    Narration, Narrator, ProgressRelay, done_label,
)
from .sizing import (  # noqa: F401
    SIZE_WAYS, SIZE_WAY_LABELS, FIT_CHOICES, FIT_LABELS, FIT_HELP, CUSTOM_FACTOR, DEFAULT_CUSTOM_FACTOR, FACTOR_STEP,
    FACTOR_RANGE, MAX_TARGET_SIDE, DEFAULT_WIDTH, factor_options, factor_label, OutputSize, chosen_size, SizePreview,
    preview_size, how_reached,
)
from .enhance_page import (  # noqa: F401
    OUTPUT_FORMATS, FORMAT_LABELS, FORMAT_HELP, tiers_that_run, ShownOption, applicable_options,
    enhance_options, quality_applies, default_quality, UploadInfo, inspect_upload, EnhanceRequest, RunOutcome,
    run_enhance, failure_title, failure_lines, failure_markdown, record_outcome, output_summary, headline,
    comparison, CROP_SIDE, crop_pair, COST_BASIS, ATTEMPT_COLUMNS, attempt_rows, OUTCOME_COLORS,
    latency_chart_rows, SessionTotals, decibels, quality_figures,
)
from .animated_page import (  # noqa: F401
    FRAME_CHOICES, FRAME_LABELS, FRAME_HELP, runs_every_frame, upload_notes, animation_factor, animation_tiers, AnimationPlan,
    plan_animation, run_animation, frame_progress, animation_done_label, animation_headline, frame_attempt_rows,
    MAX_PLAYER_BYTES, animation_player,
)
from .providers_page import (  # noqa: F401
    tier_rows, model_rows, price_rows, settings_rows, limits_rows, ProbeReport, probe_report, probe,
)
from .history_page import (  # noqa: F401
    HISTORY_PAGE_SIZE, history_rows, tiers_text, thumbnail_uri, history_summary, page_count,
)
from .health_page import (  # noqa: F401
    auto_ordering, figure_rows, hourly_rows, budget_lines, breaker_board, breaker_rows,
)
from .qa_page import (  # noqa: F401
    QA_CROP_SIDE, QA_GRID_COLUMNS, qa_entry_options, qa_default_entries, qa_options, qa_entry_label, QAOutcome,
    run_qa, qa_table_rows, QA_CHARTS, qa_chart_rows, qa_charts, qa_crops, SWEEP_SCALES, SWEEP_DEFAULT_SCALES,
    SWEEP_DEGRADATIONS, SWEEP_CHARTS, TREND_FIGURES, sweep_entries, SweepUpdate, SweepTracker, sweep_entry_label,
    SweepOutcome, run_sweep_upload, sweep_name, sweep_leaderboard_rows, sweep_chart_rows, SweepGallery,
    sweep_gallery_choices, sweep_gallery, past_sweeps, past_sweep_label, past_sweep_rows, sweep_comparison_rows,
    trend_choices, trend_rows, trend_chart, past_trend,
)
from .batch_page import (  # noqa: F401
    BATCH_UPLOAD_TYPES, BatchUpdate, BatchTracker, BatchOutcome, run_batch_upload, batch_rows, batch_summary,
    too_many_files, batch_failure_lines,
)
from ..batch.uploads import BATCH_MAX_IMAGES, BatchInput, BatchLimits, batch_inputs, is_zip_name, upload_limit_mb  # noqa: F401,E501
from ..text import human_bytes, one_line, seconds, usd  # noqa: F401  (the pages format with these)
