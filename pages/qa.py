"""QA: one image through several providers / models side by side (latency, cost, LR-consistency, sharpness, and a
grid of synchronized 1:1 crops), or a benchmark against a high-resolution reference (PSNR / SSIM); a sweep over a
set of references (a leaderboard with the SR literature's protocol); and the sweeps kept in the history."""

import streamlit as st

from hdcore import qa, webapp
from hdcore.errors import HDCoreError
from hdcore.sweep.report import GAN_NOTE
from hdcore.webapp import compare_slider
from pages import common

engine = common.engine()

st.title("Provider QA")
one_image_tab, sweep_tab, past_tab = st.tabs(["One image", "Sweep a reference set", "Past sweeps"])


def one_image() -> None:
    st.caption(
        "Run one image through several providers and models and compare them: latency, cost, LR-consistency (the "
        "output shrunk back, against the input) and sharpness. Benchmark mode shrinks a high-resolution reference by "
        "the scale, upscales it with each one and scores PSNR / SSIM against the original."
    )
    settings, source_column = st.columns([2, 3], gap="large")
    with settings:
        entries = st.multiselect(
            "Providers and models",
            webapp.qa_entry_options(engine),
            default=webapp.qa_default_entries(engine),
            format_func=webapp.qa_entry_label,
            help="Configured tiers and each of their models; the Lanczos baseline is always available.",
        )
        scale = st.radio("Scale", [2, 3, 4], horizontal=True, format_func=lambda s: f"{s}×")
        reference = st.toggle("Benchmark against this image as the reference",
                              help="The image is shrunk by the scale first; each output is scored against it.")
        shown = webapp.qa_options(engine, entries, scale)
        chosen = {option.info.name: common.option_widget(option) for option in shown}
    with source_column:
        uploaded = st.file_uploader(f"Image ({webapp.UPLOAD_FORMATS_TEXT})", type=list(webapp.UPLOAD_TYPES))
    clicked = st.button("Compare", type="primary", icon=":material/compare:", disabled=uploaded is None or not entries)

    if clicked and uploaded is not None:
        with st.status("Comparing…", expanded=False) as status:
            def heard(row) -> None:
                status.update(label=webapp.md_escape(f"{row.label}: {row.outcome}"))

            outcome = webapp.run_qa(engine, uploaded.getvalue(), entries, scale, reference=reference,
                                    source_name=uploaded.name, on_row=heard, **webapp.enhance_options(shown, chosen))
            status.update(label="Compared" if not outcome.error else "Cannot compare",
                          state="error" if outcome.error else "complete")  # fmt: skip
        st.session_state["qa"] = outcome
    outcome = st.session_state.get("qa")

    if outcome is None:
        st.info("Upload an image, choose providers and press Compare.")
        return
    if outcome.error:
        st.error(webapp.md_escape(outcome.error))
        return

    st.subheader("Benchmark against the reference" if outcome.reference else "Side by side")
    st.dataframe(
        webapp.qa_table_rows(outcome.rows),
        hide_index=True,
        placeholder="–",
        width="stretch",
        column_config={
            "Latency (s)": st.column_config.NumberColumn(format="%.2f s"),
            "Cost (USD)": st.column_config.NumberColumn(format="$%.4f"),
            "Notes": st.column_config.TextColumn(width="medium"),
        },
    )
    st.download_button("Download CSV", qa.to_csv(outcome.rows), file_name=outcome.csv_name, mime="text/csv",
                       icon=":material/download:", on_click="ignore")  # fmt: skip

    for column, name in zip(st.columns(2), webapp.qa_charts(outcome)):
        bars = webapp.qa_chart_rows(outcome.rows, name)
        column.markdown(f"**{name}**")
        if bars:
            column.bar_chart(bars, x="Provider / model", y=name, horizontal=True, sort=False, height=200)
        else:
            column.caption("No output to chart.")

    if outcome.ok_rows:
        st.subheader("1:1 detail")
        crops(outcome)


@st.fragment
def crops(outcome: webapp.QAOutcome) -> None:
    st.caption("The same spot of every output, pixel for pixel.")
    across, down = st.columns(2)
    x = across.slider("Across", 0, 100, 50, format="%d%%", key="qa-x")
    y = down.slider("Down", 0, 100, 50, format="%d%%", key="qa-y")
    shown, box = webapp.qa_crops(outcome, (x / 100, y / 100))
    if box is not None:
        st.caption(f"x {box[0]}–{box[2]}, y {box[1]}–{box[3]} of the outputs")
    if shown:
        hint = "Wheel or + / − zooms every crop; drag pans."
        viewer = compare_slider.grid(shown, columns=webapp.QA_GRID_COLUMNS, caption=hint)
        st.iframe(viewer.html, height="content", alt="The same crop of every output, zoomed together")


def history():
    """The history store, or None when the settings name one that cannot be used (the page goes on)."""
    try:
        return common.history()
    except HDCoreError:
        return None


def sweep() -> None:
    st.caption(
        "Upload high-resolution references (images, or zips of them). Each is shrunk by the scale, upscaled by every "
        "provider and model you choose, and scored against itself: PSNR-Y and SSIM-Y with a border of the scale cut "
        "off (the super-resolution literature's protocol, comparable with published tables), LR consistency, "
        "sharpness and NIQE. The bicubic baseline is always added; every sweep is kept in the history."
    )
    settings, source = st.columns([2, 3], gap="large")
    with settings:
        entries = st.multiselect("Providers and models", webapp.qa_entry_options(engine), key="sweep-entries",
                                 default=webapp.qa_default_entries(engine), format_func=webapp.sweep_entry_label)
        scales = st.multiselect("Scales", webapp.SWEEP_SCALES, default=webapp.SWEEP_DEFAULT_SCALES, key="sweep-scales",
                                format_func=lambda s: f"{s}×")  # fmt: skip
        degradation = st.radio("Degradation", list(webapp.SWEEP_DEGRADATIONS), key="sweep-degradation",
                               format_func=webapp.SWEEP_DEGRADATIONS.get)  # fmt: skip
    with source:
        uploads = st.file_uploader(
            f"References ({webapp.UPLOAD_FORMATS_TEXT}) or zips of them", type=list(webapp.BATCH_UPLOAD_TYPES),
            accept_multiple_files=True, key="sweep-uploads", help=f"Up to {webapp.BATCH_MAX_IMAGES} references.",
        )  # fmt: skip
    clicked = st.button("Run the sweep", type="primary", icon=":material/leaderboard:", key="sweep-run",
                        disabled=not uploads or not entries or not scales)  # fmt: skip

    if clicked and uploads:
        inputs, problems = webapp.batch_inputs([(upload.name, upload.getvalue()) for upload in uploads])
        order = webapp.sweep_entries(entries)
        overall = st.progress(0.0, text="Starting…")
        bars = {entry: st.progress(0.0, text=f"{webapp.sweep_entry_label(entry)}: waiting") for entry in order}

        def show(update: webapp.SweepUpdate) -> None:
            overall.progress(*update.overall)
            bars[update.entry].progress(*update.bar)

        tracker = webapp.SweepTracker(order, len(inputs) * len(scales), show)
        outcome = webapp.run_sweep_upload(engine, inputs, entries, scales, degradation, progress=tracker,
                                          store=history(), name=webapp.sweep_name([u.name for u in uploads]))
        outcome.problems[:0] = problems
        st.session_state["sweep"] = outcome
    outcome = st.session_state.get("sweep")

    if outcome is None:
        st.info("Upload references, choose providers and scales, and run the sweep.")
        return
    for problem in outcome.problems:
        st.warning(webapp.md_escape(problem))
    if outcome.error:
        st.error(webapp.md_escape(outcome.error))
        return
    sweep_result(outcome)


def sweep_result(outcome: webapp.SweepOutcome) -> None:
    result = outcome.result
    st.subheader("Leaderboard")
    st.caption(f"{len(result.references)} references · {result.degradation} degradation · {len(result.rows)} calls, "
               f"{result.failures} failed · {outcome.stored}")  # fmt: skip
    st.dataframe(webapp.sweep_leaderboard_rows(result.leaderboard()), hide_index=True, placeholder="–",
                 width="stretch", column_config={"Cost (USD)": st.column_config.NumberColumn(format="$%.4f")})
    results, board, report = st.columns(3)
    results.download_button("Download results.csv", outcome.results_csv, file_name="results.csv", mime="text/csv",
                            icon=":material/download:", on_click="ignore", key="sweep-results-csv")  # fmt: skip
    board.download_button("Download leaderboard.csv", outcome.leaderboard_csv, file_name="leaderboard.csv",
                          mime="text/csv", icon=":material/download:", on_click="ignore", key="sweep-board-csv")
    report.download_button("Download report.html", outcome.report_html, file_name="report.html", mime="text/html",
                           icon=":material/download:", on_click="ignore", key="sweep-report")  # fmt: skip
    lines = result.leaderboard()
    names = list(webapp.SWEEP_CHARTS)
    for scale in result.scales:
        st.markdown(f"**{scale}×**")
        for pair in (names[:2], names[2:]):
            for column, name in zip(st.columns(2), pair):
                bars = webapp.sweep_chart_rows(lines, name, scale)
                column.caption(name)
                if bars:
                    column.bar_chart(bars, x="Provider / model", y=name, horizontal=True, sort=False, height=180)
    st.caption(GAN_NOTE)
    choices = webapp.sweep_gallery_choices(outcome)
    if choices:
        st.subheader("Crops: where each one gained least and most over bicubic")
        choice = st.selectbox("Gallery", choices, key="sweep-gallery",
                              format_func=lambda c: f"{c[0]}× · {webapp.sweep_entry_label(c[1])}")  # fmt: skip
        for gallery in webapp.sweep_gallery(outcome, *choice):
            viewer = compare_slider.grid(gallery.panes, columns=3, caption=gallery.title)
            st.iframe(viewer.html, height="content", alt=gallery.title)


def past() -> None:
    store = history()
    if store is None:
        st.info("This deployment keeps no history.")
        return
    records, warning = webapp.past_sweeps(store)
    if warning:
        st.warning(webapp.md_escape(warning))
        return
    if not records:
        st.info("No sweep in the history yet: run one here, or with `python -m hdcore qa-sweep`.")
        return
    st.dataframe(webapp.past_sweep_rows(records), hide_index=True, width="stretch",
                 column_config={"Cost (USD)": st.column_config.NumberColumn(format="$%.4f")})  # fmt: skip
    st.subheader("Two sweeps side by side")
    ids = [record.id for record in records]
    labels = {record.id: webapp.past_sweep_label(record) for record in records}
    before, after = st.columns(2)
    first = before.selectbox("Sweep A", ids, index=min(1, len(ids) - 1), format_func=labels.get, key="past-a")
    second = after.selectbox("Sweep B", ids, index=0, format_func=labels.get, key="past-b")
    rows, problem = webapp.sweep_comparison_rows(store, first, second)
    if problem:
        st.warning(webapp.md_escape(problem))
    else:
        st.caption("B minus A, each figure's mean over the images both sweeps scored.")
        st.dataframe(rows, hide_index=True, placeholder="–", width="stretch")
    trend()


def trend() -> None:
    points, warning = webapp.past_trend(history())
    if warning:
        st.warning(webapp.md_escape(warning))
        return
    scales, degradations = webapp.trend_choices(points)
    if not scales:
        return
    st.subheader("Quality over time")
    figure_column, scale_column, degradation_column = st.columns(3)
    figure = figure_column.selectbox("Figure", list(webapp.TREND_FIGURES), key="trend-figure")
    scale = scale_column.selectbox("Scale", scales, format_func=lambda s: f"{s}×", key="trend-scale")
    degradation = degradation_column.selectbox("Degradation", degradations, key="trend-degradation")
    rows = webapp.trend_rows(points, figure, scale, degradation)
    if rows:
        st.vega_lite_chart(rows, webapp.trend_chart(figure), height=280, width="stretch")
    else:
        st.caption("No scored call at this scale and degradation.")


with one_image_tab:
    one_image()
with sweep_tab:
    sweep()
with past_tab:
    past()
