"""Enhance: upload an image, choose scale and provider, compare before and after, see what each tier did."""

import streamlit as st

from hdcore import webapp
from hdcore.errors import InvalidInput
from pages import common

engine = common.engine()
config = engine.config

st.title("HD Enhance")
st.caption(
    "Drop a photo and get it 2–4× larger. The tiers are tried in order until one delivers; "
    "without tokens, the embedded local models do the work."
)


def inspected(uploaded) -> webapp.UploadInfo | None:
    """The upload decoded once per file (kept for the reruns that follow); a bad file shows its reason."""
    if uploaded is None:
        return None
    memo = st.session_state.get("upload")
    if memo is None or memo[0] != uploaded.file_id:
        try:
            memo = (uploaded.file_id, webapp.inspect_upload(uploaded.name, uploaded.getvalue(), config), "")
        except InvalidInput as error:
            memo = (uploaded.file_id, None, webapp.one_line(str(error)))
        st.session_state["upload"] = memo
    if memo[2]:
        st.error(webapp.md_escape(f"{uploaded.name}: {memo[2]}"))  # the name is the uploader's choice
    return memo[1]


source_column, settings_column = st.columns([3, 2], gap="large")

with source_column:
    uploaded = st.file_uploader(
        f"Image ({webapp.UPLOAD_FORMATS_TEXT})",
        type=list(webapp.UPLOAD_TYPES),
        help=f"Up to {config.max_input_pixels:,} pixels; the format is read from the content, not the name.",
    )
    upload = inspected(uploaded)
    if upload is not None:
        st.image(upload.image, width=min(upload.size[0], 360))
        st.caption(webapp.md_escape(f"{upload.name} · {upload.summary}"))
        for note in upload.warnings:
            st.caption(f":material/info: {webapp.Narrator.markdown(note)}")

with settings_column:
    provider = st.selectbox(
        "Provider",
        webapp.provider_options(engine),
        format_func=lambda name: webapp.provider_label(engine, name),
        help="Auto tries each configured tier in order. Choose one tier to force it (and only it).",
    )
    if provider == webapp.AUTO:
        st.caption(f":material/route: {webapp.Narrator.markdown(common.auto_ordering().explanation)}")
    model_choice = st.selectbox(
        "Model",
        webapp.model_options(engine, provider),
        format_func=webapp.model_label,
        disabled=provider == webapp.AUTO,
        help="Each tier's default depends on the scale; force a tier to choose one of its models.",
    )
    model = webapp.chosen_model(model_choice)
    scales = webapp.scale_options(engine, provider, model)
    scale = st.radio(
        "Scale", scales, index=scales.index(webapp.default_scale(scales)), horizontal=True, format_func=lambda s: f"{s}×"
    )
    shown = webapp.applicable_options(engine, provider, model, scale)
    chosen = {option.info.name: common.option_widget(option) for option in shown}
    format_column, quality_column = st.columns(2)
    output_format = format_column.selectbox(
        "Output format", webapp.OUTPUT_FORMATS, format_func=lambda f: webapp.FORMAT_LABELS[f], help=webapp.FORMAT_HELP
    )
    quality = None
    if webapp.quality_applies(output_format):
        quality = quality_column.slider("Quality", 50, 100, webapp.default_quality(output_format))
    clicked = st.button("Enhance", type="primary", icon=":material/auto_awesome:", disabled=upload is None,
                        width="stretch")

if clicked and upload is not None:
    request = webapp.EnhanceRequest(
        data=uploaded.getvalue(), source_name=uploaded.name, scale=scale, provider=provider, model=model,
        options=webapp.enhance_options(shown, chosen),
        output_format=output_format, quality=quality,
    )  # fmt: skip
    outcome = common.run_live(request, upload)
else:
    outcome = st.session_state.get("outcome")
    if outcome is not None:
        common.past_status(outcome)

if outcome is None:
    if upload is None and uploaded is None:
        st.info(f"Upload a {webapp.UPLOAD_FORMATS_TEXT} image to begin.")
    st.stop()

if not outcome.ok:
    st.error(webapp.failure_markdown(outcome))
else:
    st.subheader("Before and after")
    common.headline(webapp.headline(outcome))
    slider = webapp.comparison(outcome)
    st.iframe(slider.html, height="content", alt="Before and after comparison slider")
    download, note = st.columns([1, 3], vertical_alignment="center")
    download.download_button(
        f"Download {outcome.encoded.format.upper()}", outcome.encoded.data, file_name=outcome.download_name,
        mime=outcome.encoded.mime, type="primary", icon=":material/download:", on_click="ignore", width="stretch",
    )  # fmt: skip
    note.caption(f"Full resolution: {webapp.output_summary(outcome)} · `{outcome.download_name}`")
    if outcome.model_choice:
        st.info(webapp.Narrator.markdown(outcome.model_choice), icon=":material/model_training:")
    if outcome.notes:
        st.caption(f":material/info: {webapp.Narrator.markdown(outcome.notes)}")
    st.caption("Quality of this result")
    common.headline(webapp.quality_figures(outcome))

    @st.fragment
    def detail(outcome: webapp.RunOutcome) -> None:
        st.caption("The same spot of the input (its pixels, enlarged) and of the output, pixel for pixel.")
        across, down = st.columns(2)
        x = across.slider("Across", 0, 100, 50, format="%d%%")
        y = down.slider("Down", 0, 100, 50, format="%d%%")
        before, after, box = webapp.crop_pair(outcome.source.image, outcome.result.image, (x / 100, y / 100))
        left, right = st.columns(2)
        left.image(before, caption="Before (nearest neighbour)")
        right.image(after, caption=f"After, 1:1 — x {box[0]}–{box[2]}, y {box[1]}–{box[3]}")

    if outcome.source is not None:
        with st.expander("1:1 detail", icon=":material/zoom_in:"):
            detail(outcome)

if outcome.attempts:
    st.subheader("Tiers of this run")
    st.dataframe(
        webapp.attempt_rows(outcome.attempts),
        hide_index=True,
        placeholder="–",
        width="stretch",
        column_config={
            "Reason": st.column_config.TextColumn(width="medium"),
            "Latency (s)": st.column_config.NumberColumn(format="%.2f s"),
            "Cost (USD)": st.column_config.NumberColumn(format="$%.4f"),
        },
    )

chart, session = st.columns(2, gap="large")
bars = webapp.latency_chart_rows(outcome.attempts)
if outcome.attempts:
    chart.subheader("Latency by tier")
    with chart:
        if bars:
            st.bar_chart(bars, x="Tier", y="Latency (s)", color="Color", sort=False, horizontal=True, height=200)
        else:
            st.caption("No tier was called: each one was skipped.")

totals = st.session_state.get("totals")
with session:
    if totals is not None and totals.runs:
        st.subheader("This session")
        common.headline(totals.headline)
        st.dataframe(
            totals.rows(),
            hide_index=True,
            width="stretch",
            column_config={
                "Mean latency (s)": st.column_config.NumberColumn(format="%.2f s"),
                "Cost (USD)": st.column_config.NumberColumn(format="$%.4f"),
            },
        )
