"""QA: one image through several providers / models side by side (latency, cost, LR-consistency, sharpness, and a
grid of synchronized 1:1 crops), or a benchmark against a high-resolution reference (PSNR / SSIM)."""

import streamlit as st

from hdcore import qa, webapp
from hdcore.webapp import compare_slider
from pages import common

engine = common.engine()

st.title("Provider QA")
st.caption(
    "Run one image through several providers and models and compare them: latency, cost, LR-consistency (the output "
    "shrunk back, against the input) and sharpness. Benchmark mode shrinks a high-resolution reference by the scale, "
    "upscales it with each one and scores PSNR / SSIM against the original."
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
                                source_name=uploaded.name, on_row=heard, **webapp.enhance_options(shown, chosen))  # fmt: skip
        status.update(label="Compared" if not outcome.error else "Cannot compare",
                      state="error" if outcome.error else "complete")  # fmt: skip
    st.session_state["qa"] = outcome
outcome = st.session_state.get("qa")

if outcome is None:
    st.info("Upload an image, choose providers and press Compare.")
    st.stop()
if outcome.error:
    st.error(webapp.md_escape(outcome.error))
    st.stop()

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


if outcome.ok_rows:
    st.subheader("1:1 detail")
    crops(outcome)
