"""Batch: many images (and zips of images) at once, a bar for the batch and one per image, a zip to download."""

import streamlit as st

from hdcore import webapp
from hdcore.batch import BatchSettings
from pages import common

engine = common.engine()

st.title("Batch")
st.caption(
    "Drop many images, or zips of images, and get them all back in one zip with an attempts.csv. Remote tiers take "
    "several images at once (up to each one's limit); the local tier works within its job limit. An image that "
    "fails is reported and the others go on."
)

settings_column, source_column = st.columns([2, 3], gap="large")
with settings_column:
    provider = st.selectbox("Provider", webapp.provider_options(engine),
                            format_func=lambda name: webapp.provider_label(engine, name))  # fmt: skip
    scales = webapp.scale_options(engine, provider)
    scale = st.radio("Scale", scales, index=scales.index(webapp.default_scale(scales)), horizontal=True,
                     format_func=lambda s: f"{s}×")  # fmt: skip
    shown = webapp.applicable_options(engine, provider, None, scale)
    chosen = {option.info.name: common.option_widget(option) for option in shown}
    output_format = st.selectbox("Output format", webapp.OUTPUT_FORMATS, format_func=lambda f: webapp.FORMAT_LABELS[f])
with source_column:
    uploads = st.file_uploader(
        f"Images ({webapp.UPLOAD_FORMATS_TEXT}) or zips of them", type=list(webapp.BATCH_UPLOAD_TYPES),
        accept_multiple_files=True, help=f"Up to {webapp.BATCH_MAX_IMAGES} images per batch.",
    )  # fmt: skip
clicked = st.button("Enhance all", type="primary", icon=":material/auto_awesome:", disabled=not uploads)

if clicked and uploads:
    inputs, problems = webapp.batch_inputs([(upload.name, upload.getvalue()) for upload in uploads])
    overall = st.progress(0.0, text=f"0 of {len(inputs)} images done")
    bars = [st.empty() for _ in inputs]

    def show(update: webapp.BatchUpdate) -> None:
        overall.progress(update.overall[0], text=webapp.md_escape(update.overall[1]))
        bars[update.index].progress(update.item[0], text=webapp.md_escape(update.item[1]))  # names and servers' words

    tracker = webapp.BatchTracker([one.name for one in inputs], show)
    settings = BatchSettings(scale=scale, provider=provider, format=output_format,
                             options=webapp.enhance_options(shown, chosen))  # fmt: skip
    outcome = webapp.run_batch_upload(engine, inputs, settings, tracker, tracker.cancel)
    tracker.reraise()
    outcome.problems[:0] = problems
    st.session_state["batch"] = outcome
outcome = st.session_state.get("batch")

if outcome is None:
    st.info("Upload images or a zip of images to begin.")
    st.stop()
for problem in outcome.problems:
    st.warning(webapp.md_escape(problem))
if outcome.error:
    st.error(webapp.md_escape(outcome.error))
    st.stop()

common.headline(webapp.batch_summary(outcome))
for line in webapp.batch_failure_lines(outcome):
    st.error(webapp.md_escape(line))
st.download_button(
    f"Download {outcome.zip_name}", outcome.zip_data, file_name=outcome.zip_name, mime="application/zip",
    type="primary", icon=":material/download:", on_click="ignore", disabled=not outcome.results,
)  # fmt: skip
st.dataframe(
    webapp.batch_rows(outcome),
    hide_index=True,
    placeholder="–",
    width="stretch",
    column_config={
        "Latency (s)": st.column_config.NumberColumn(format="%.2f s"),
        "Cost (USD)": st.column_config.NumberColumn(format="$%.4f"),
        "Error": st.column_config.TextColumn(width="medium"),
    },
)
