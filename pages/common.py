"""What every page shares, in one place: settings, the shared engine and history store, the sidebar, and a run
narrated live. Streamlit glue only; every decision is in ``hdcore.webapp``. (Not a page: st.navigation lists
the pages explicitly, so this module is only imported.)"""

from __future__ import annotations

import os

import streamlit as st

import hdcore
from hdcore import health, webapp
from hdcore.errors import ConfigError, HDCoreError
from hdcore.store import HistoryStore, open_store, store_key


def _secrets() -> dict:
    """Top-level values of st.secrets; none when there is no secrets.toml (or it cannot be read)."""
    try:
        return st.secrets.to_dict()
    except FileNotFoundError:  # StreamlitSecretNotFoundError: no file, or one that does not parse
        return {}


@st.cache_resource(show_spinner=False)
def _shared_engine(settings_key: str, _settings: dict[str, str]) -> hdcore.Engine:
    # One engine per configuration for the whole process: every session shares its providers, and the local
    # tier's models (loaded once per process) and job gate (HDCORE_LOCAL_JOBS) behind it.
    # The history store is shared too: its spend ledger holds the daily cap for every session (and replica).
    config = webapp.load_config(_settings)
    return webapp.build_engine(_settings, _shared_history(store_key(config), config))


@st.cache_resource(show_spinner=False)
def _shared_history(key: str, _config: hdcore.Config) -> HistoryStore:
    # Keyed by a digest: the PostgreSQL URL holds a password. Connects on first use, not here.
    return open_store(_config)


def settings() -> dict[str, str]:
    """hdcore's settings: Streamlit secrets over the environment."""
    return webapp.settings_from(os.environ, _secrets())


def engine() -> hdcore.Engine:
    """The shared engine for the current settings (secrets over the environment). A bad setting stops the page
    with its one-line reason."""
    settings = webapp.settings_from(os.environ, _secrets())
    try:
        return _shared_engine(webapp.settings_key(settings), settings)
    except ConfigError as error:
        st.error(f"The configuration cannot be used: {webapp.md_escape(webapp.one_line(str(error)))}")
        st.stop()


def auto_ordering() -> health.Ordering:
    """The Auto order the current settings choose, and why (from this deployment's history)."""
    return webapp.auto_ordering(engine(), history())


def history() -> HistoryStore:
    """The history store the settings name: PostgreSQL with HDCORE_DATABASE_URL, else SQLite in HDCORE_DATA_DIR."""
    config = engine().config
    return _shared_history(store_key(config), config)


def sidebar() -> None:
    with st.sidebar:
        st.markdown("#### Tiers")
        st.markdown("  \n".join(webapp.sidebar_lines(engine())))
        st.caption(
            "Tokens come from `.streamlit/secrets.toml` or the environment and are never shown. "
            "Probe each tier on the Providers page."
        )


def headline(figures: list[webapp.Headline]) -> None:
    for column, figure in zip(st.columns(len(figures)), figures):
        column.metric(figure.label, figure.value, help=figure.help or None)


def run_live(request: webapp.EnhanceRequest, source: webapp.UploadInfo | None) -> webapp.RunOutcome:
    """Run ``request`` with an st.status narrating each tier and a progress bar following the local tier's tiles.

    If Streamlit interrupts the script (the user changed something, or pressed Stop), the run is cancelled rather
    than left working for nobody, and the interruption goes on as Streamlit expects. A run that finishes is kept
    (``keep``) either way.
    """
    narrator = webapp.Narrator()
    with st.status("Enhancing…", expanded=True) as status:
        bar = st.empty()

        def show(event: hdcore.ProgressEvent) -> None:
            said = narrator.feed(event)
            if said.line:
                st.markdown(narrator.markdown(said.line))
            status.update(label=narrator.markdown(said.label))  # a tier's failure: a server's own words
            if said.progress:
                bar.progress(said.progress[0], text=narrator.markdown(said.progress[1]))
            elif said.clear_progress:
                bar.empty()

        relay = webapp.ProgressRelay(show)
        try:
            outcome = webapp.run_enhance(engine(), request, progress=relay, cancel=relay.cancel, source=source)
        except hdcore.Cancelled:
            relay.reraise()  # Streamlit's stop/rerun request, handed back now that the run is cancelled
            raise
        outcome.narration = list(narrator.lines)
        if relay.interrupted is not None:
            keep(outcome)  # it finished anyway: keep it (and its history record) for the page that comes next
            relay.reraise()
        bar.empty()
        if outcome.ok:
            status.update(label=webapp.md_escape(webapp.done_label(outcome.result)), state="complete", expanded=False)
        else:
            status.update(label=webapp.md_escape(webapp.failure_title(outcome)), state="error", expanded=False)
    keep(outcome)
    return outcome


def keep(outcome: webapp.RunOutcome) -> None:
    """The run becomes this session's last one, counts in its totals, and goes into the persistent history."""
    st.session_state["outcome"] = outcome
    st.session_state.setdefault("totals", webapp.SessionTotals()).record(outcome)
    record(outcome)


def past_status(outcome: webapp.RunOutcome) -> None:
    """The finished run's status, as it ended, on the reruns after it."""
    if outcome.animation is not None:
        label, state = webapp.animation_done_label(outcome), "complete"
    elif outcome.ok:
        label, state = webapp.done_label(outcome.result), "complete"
    else:
        label, state = webapp.failure_title(outcome), "error"
    with st.status(webapp.md_escape(label), state=state, expanded=False):
        for line in outcome.narration:
            st.markdown(webapp.Narrator.markdown(line))


def record(outcome: webapp.RunOutcome) -> None:
    """Add the run to the persistent history; a store that cannot be written is a warning, never a lost image."""
    try:
        store = history()
    except HDCoreError as error:
        st.warning(f"This run was not saved to the history: {webapp.md_escape(webapp.one_line(str(error)))}")
        return
    warning = webapp.record_outcome(store, outcome)
    if warning:
        st.warning(webapp.md_escape(warning))


def option_widget(option: webapp.ShownOption):
    """The widget for one option a provider declares: a toggle, a text box or a choice; returns its value."""
    info = option.info
    if info.kind == "toggle":
        return st.toggle(info.label, value=bool(option.default), help=info.help or None)
    if info.kind == "choice":
        choices = list(info.choices)
        index = choices.index(option.default) if option.default in choices else 0
        return st.radio(info.label, choices, index=index, horizontal=True, help=info.help or None,
                        format_func=lambda choice: info.choice_labels.get(choice, choice))  # fmt: skip
    return st.text_input(info.label, value=option.default or "", help=info.help or None)


def size_control(scales: list[int], source: tuple[int, int] | None, max_output_pixels: int, key: str,
                 whole_page_follows: bool = False) -> tuple[webapp.OutputSize, webapp.SizePreview]:  # fmt: skip
    """The output size widgets and the size they give, shown before a run. A fragment: typing a width reruns
    this part alone, not the page with its comparison. When the change matters elsewhere (the native scale,
    which picks each tier's options; whether it can run at all; an animation's estimate with
    ``whole_page_follows``), the whole page reruns."""
    st.session_state[f"{key}.page_run"] = True  # the fragment runs with the page now, not alone
    try:
        return _size_fragment(scales, source, max_output_pixels, key, whole_page_follows)
    finally:
        st.session_state[f"{key}.page_run"] = False


@st.fragment
def _size_fragment(scales: list[int], source: tuple[int, int] | None, max_output_pixels: int, key: str,
                   whole_page_follows: bool) -> tuple[webapp.OutputSize, webapp.SizePreview]:  # fmt: skip
    way = st.selectbox("Output size", webapp.SIZE_WAYS, format_func=webapp.SIZE_WAY_LABELS.get)
    values: dict = {}
    if way == "factor":
        options = webapp.factor_options(scales)
        values["factor"] = st.radio("Scale", options, index=options.index(webapp.default_scale(scales)),
                                    horizontal=True, format_func=webapp.factor_label)  # fmt: skip
        if values["factor"] == webapp.CUSTOM_FACTOR:
            values["custom"] = st.number_input("Factor", *webapp.FACTOR_RANGE, value=webapp.DEFAULT_CUSTOM_FACTOR,
                                               step=webapp.FACTOR_STEP, format="%.2f")  # fmt: skip
    elif way == "box":
        width, height = st.columns(2)
        values["width"] = width.number_input("Width (px)", 1, webapp.MAX_TARGET_SIDE, value=webapp.DEFAULT_WIDTH)
        values["height"] = height.number_input("Height (px)", 1, webapp.MAX_TARGET_SIDE, value=None, placeholder="any")
        values["fit"] = st.radio("Fit", webapp.FIT_CHOICES, format_func=webapp.FIT_LABELS.get, horizontal=True,
                                 disabled=not (values["width"] and values["height"]), help=webapp.FIT_HELP)
    else:
        values["longest_side"] = st.number_input("Longest side (px)", 1, webapp.MAX_TARGET_SIDE,
                                                 value=webapp.DEFAULT_WIDTH)  # fmt: skip
    size = webapp.chosen_size(way, values)
    preview = webapp.preview_size(size, source, max_output_pixels)
    if preview.error:
        st.error(webapp.Narrator.markdown(preview.error), icon=":material/aspect_ratio:")
    else:
        st.caption(f":material/aspect_ratio: Output: {webapp.Narrator.markdown(preview.text)}")
    seen = (size.native_scale(source), bool(preview.error), size if whole_page_follows else None)
    alone = not st.session_state.get(f"{key}.page_run", True)
    changed = st.session_state.get(f"{key}.seen", seen) != seen
    st.session_state[f"{key}.seen"] = seen
    if alone and changed:
        st.rerun()  # from a fragment: the whole page, so what depends on the size follows it
    return size, preview


def copy_metadata_toggle(key: str) -> bool:
    return st.toggle("Copy metadata (EXIF, XMP)", value=True, key=key,
                     help="The upload's camera, time, GPS and editing record go into the output (orientation "
                          "is applied to the pixels; PNG text and the colour profile are kept too).")  # fmt: skip


def run_animation_live(request: webapp.EnhanceRequest, source: webapp.UploadInfo) -> webapp.RunOutcome:
    """Every frame of an animated upload, with a bar that moves on after each frame; cancelled like ``run_live``."""
    frames = source.animation.frames if source.animation is not None else 0
    with st.status(f"Enhancing {frames} frames…", expanded=True) as status:
        bar = st.progress(0.0, text=f"Frame 0 of {frames}")
        relay = webapp.ProgressRelay(lambda done: bar.progress(*webapp.frame_progress(done)))
        try:
            outcome = webapp.run_animation(engine(), request, progress=relay, cancel=relay.cancel, source=source)
        except hdcore.Cancelled:
            relay.reraise()
            raise
        if relay.interrupted is not None:
            keep(outcome)
            relay.reraise()
        bar.empty()
        if outcome.ok:
            status.update(label=webapp.animation_done_label(outcome), state="complete", expanded=False)
        else:
            status.update(label=webapp.failure_title(outcome), state="error", expanded=False)
    keep(outcome)
    return outcome
