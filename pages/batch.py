"""Batch: many images (and zips of images) at once, a bar for the batch and one per image, a zip to download."""

import streamlit as st

from hdcore import webapp
from hdcore.batch import BatchSettings
from pages import common

engine = common.engine()

st.title("Batch")
st.caption(
    "Drop many images, zips of images, or a whole folder, and get them all back in one zip with an attempts.csv. "
    "Remote tiers take several images at once (up to each one's limit); the local tier works within its job limit. "
    "An image that fails is reported and the others go on; an animation comes back animated, every frame done by "
    "the tiers on this machine."
)

settings_column, source_column = st.columns([2, 3], gap="large")
with settings_column:
    provider = st.selectbox("Provider", webapp.provider_options(engine),
                            format_func=lambda name: webapp.provider_label(engine, name))  # fmt: skip
    size, preview = common.size_control(webapp.scale_options(engine, provider), None, engine.config.max_output_pixels,
                                        "batch.size")  # fmt: skip
    shown = webapp.applicable_options(engine, provider, None, size.native_scale())
    chosen = {option.info.name: common.option_widget(option) for option in shown}
    output_format = st.selectbox("Output format", webapp.OUTPUT_FORMATS, format_func=lambda f: webapp.FORMAT_LABELS[f])
    copy_metadata = common.copy_metadata_toggle("batch.metadata")
with source_column:
    folder = st.toggle("Upload a folder", help="Every image in a folder and its subfolders, instead of single files")
    uploads = st.file_uploader(
        f"A folder of images ({webapp.UPLOAD_FORMATS_TEXT})" if folder else
        f"Images ({webapp.UPLOAD_FORMATS_TEXT}) or zips of them", type=list(webapp.BATCH_UPLOAD_TYPES),
        accept_multiple_files="directory" if folder else True, max_upload_size=webapp.upload_limit_mb(
            engine.config.max_input_pixels), help=f"Up to {webapp.BATCH_MAX_IMAGES} images per batch.",
    )  # fmt: skip
    too_many = webapp.too_many_files(len(uploads or []))
    if too_many:
        st.error(too_many)
clicked = st.button("Enhance all", type="primary", icon=":material/auto_awesome:",
                    disabled=not uploads or bool(too_many or preview.error))  # fmt: skip

if clicked and uploads and not too_many:
    inputs, problems = webapp.batch_inputs([(upload.name, upload.getvalue()) for upload in uploads])
    overall = st.progress(0.0, text=f"0 of {len(inputs)} images done")
    bars = [st.empty() for _ in inputs]

    def show(update: webapp.BatchUpdate) -> None:
        overall.progress(update.overall[0], text=webapp.md_escape(update.overall[1]))
        bars[update.index].progress(update.item[0], text=webapp.md_escape(update.item[1]))  # names and servers' words

    tracker = webapp.BatchTracker([one.name for one in inputs], show)
    settings = BatchSettings(provider=provider, format=output_format, options=webapp.enhance_options(shown, chosen),
                             copy_metadata=copy_metadata, **size.keywords)  # fmt: skip
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
st.download_button(  # the zip is handed over on the click, and the click does not rerun the page
    f"Download {outcome.zip_name}", outcome.zip_bytes, file_name=outcome.zip_name, mime="application/zip",
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
