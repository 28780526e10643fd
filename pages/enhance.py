"""Enhance: upload an image, choose scale and provider, compare before and after, see what each tier did."""

import streamlit as st

from hdcore import webapp
from hdcore.errors import InvalidInput
from pages import common

engine = common.engine()
config = engine.config

st.title("HD Enhance")
st.caption(
    "Drop a photo (or an animated GIF, WebP or PNG) and get it larger: 2–4×, any factor up to 8×, or exactly the "
    "width, height or longest side you need. The tiers are tried in order until one delivers; without tokens, the "
    "embedded local models do the work."
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
        max_upload_size=webapp.upload_limit_mb(config.max_input_pixels),
        help=f"Up to {config.max_input_pixels:,} pixels; the format is read from the content, not the name.",
    )
    upload = inspected(uploaded)
    if upload is not None:
        st.image(upload.image, width=min(upload.size[0], 360))
        st.caption(webapp.md_escape(f"{upload.name} · {upload.summary}"))
    upload_notes = st.container()  # filled once the settings say whether the upload runs as a still

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
    animated = upload is not None and upload.animation is not None
    size, preview = common.size_control(webapp.scale_options(engine, provider, model), upload and upload.size,
                                        config.max_output_pixels, "enhance.size", animated)  # fmt: skip
    shown = webapp.applicable_options(engine, provider, model, size.native_scale(upload and upload.size))
    chosen = {option.info.name: common.option_widget(option) for option in shown}
    every_frame = animated and st.radio("Animation", webapp.FRAME_CHOICES, format_func=webapp.FRAME_LABELS.get,
                                        horizontal=True, help=webapp.FRAME_HELP)  # fmt: skip
    output_format, quality, copy_metadata, allow_paid, plan = "png", None, True, False, None
    if every_frame:
        request = webapp.EnhanceRequest(uploaded.getvalue(), uploaded.name, provider=provider, model=model,
                                        options=webapp.enhance_options(shown, chosen), **size.keywords)  # fmt: skip
        plan = webapp.plan_animation(engine, request, upload.animation)
        if plan.error:
            st.error(webapp.Narrator.markdown(plan.error), icon=":material/animation:")
        else:
            st.caption(f":material/animation: {webapp.Narrator.markdown(plan.estimate)}; written back as an "
                       f"animated {upload.animation.format.upper()}, its timing and loop kept")  # fmt: skip
        if plan.cloud_cost:
            allow_paid = st.checkbox(f"Use the cloud tiers for every frame: {plan.cloud_cost}", value=False,
                                     help="Unticked, only the tiers on this machine run the frames.")  # fmt: skip
    else:
        format_column, quality_column = st.columns(2)
        output_format = format_column.selectbox(
            "Output format", webapp.OUTPUT_FORMATS, format_func=lambda f: webapp.FORMAT_LABELS[f],
            help=webapp.FORMAT_HELP,
        )  # fmt: skip
        if webapp.quality_applies(output_format):
            quality = quality_column.slider("Quality", 50, 100, webapp.default_quality(output_format))
        copy_metadata = common.copy_metadata_toggle("enhance.metadata")
    for note in webapp.upload_notes(upload, bool(every_frame)) if upload is not None else ():
        upload_notes.caption(f":material/info: {webapp.Narrator.markdown(note)}")
    blocked = upload is None or bool(preview.error) or bool(plan and plan.error)
    clicked = st.button("Enhance", type="primary", icon=":material/auto_awesome:", disabled=blocked, width="stretch")

if clicked and not blocked:
    request = webapp.EnhanceRequest(
        data=uploaded.getvalue(), source_name=uploaded.name, provider=provider, model=model,
        options=webapp.enhance_options(shown, chosen), output_format=output_format, quality=quality,
        copy_metadata=copy_metadata, every_frame=bool(every_frame), allow_paid=allow_paid, **size.keywords,
    )  # fmt: skip
    if webapp.runs_every_frame(request, upload):
        outcome = common.run_animation_live(request, upload)
    else:
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
    animation = outcome.animation
    common.headline(webapp.headline(outcome) if animation is None else webapp.animation_headline(outcome))
    slider = webapp.comparison(outcome)
    st.iframe(slider.html, height="content", alt="Before and after comparison slider")
    if animation is not None:
        player = webapp.animation_player(outcome)
        if player is None:
            st.caption(f"The animation is over {webapp.human_bytes(webapp.MAX_PLAYER_BYTES)}: download it to play it.")
        else:
            st.iframe(player, height="content", alt="The upscaled animation, playing")
    download, note = st.columns([1, 3], vertical_alignment="center")
    _, file_format, mime = outcome.download
    download.download_button(  # the bytes are handed over on the click, and the click does not rerun the page
        f"Download {file_format.upper()}", outcome.download_data, file_name=outcome.download_name,
        mime=mime, type="primary", icon=":material/download:", on_click="ignore", width="stretch",
    )  # fmt: skip
    note.caption(f"Full resolution: {webapp.output_summary(outcome)} · `{outcome.download_name}`")
    if outcome.model_choice:
        st.info(webapp.Narrator.markdown(outcome.model_choice), icon=":material/model_training:")
    if outcome.notes:
        st.caption(f":material/info: {webapp.Narrator.markdown(outcome.notes)}")
    if animation is None:
        st.caption("Quality of this result")
        common.headline(webapp.quality_figures(outcome))

    @st.fragment
    def detail(outcome: webapp.RunOutcome) -> None:
        st.caption("The same spot of the input (its pixels, enlarged) and of the output, pixel for pixel.")
        across, down = st.columns(2)
        x = across.slider("Across", 0, 100, 50, format="%d%%")
        y = down.slider("Down", 0, 100, 50, format="%d%%")
        before, after, box = webapp.crop_pair(outcome.source.image, outcome.output_image, (x / 100, y / 100))
        left, right = st.columns(2)
        left.image(before, caption="Before (nearest neighbour)")
        right.image(after, caption=f"After, 1:1 — x {box[0]}–{box[2]}, y {box[1]}–{box[3]}")

    if outcome.source is not None:
        with st.expander("1:1 detail", icon=":material/zoom_in:"):
            detail(outcome)

if outcome.attempts:
    st.subheader("Tiers of this run")
    st.dataframe(
        webapp.attempt_rows(outcome.attempts) if outcome.animation is None else webapp.frame_attempt_rows(outcome),
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
if outcome.attempts and outcome.animation is None:  # an animation's frames are in the table above
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
