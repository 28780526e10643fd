"""Enhance: upload an image, pick a scale and a provider, get the HD image and the record of every tier."""

import streamlit as st

import hdcore
from hdcore import AllTiersFailed, HDCoreError


@st.cache_resource
def engine() -> hdcore.Engine:
    return hdcore.Engine(hdcore.Config.from_env())


def tier_label(name: str) -> str:
    if name == "auto":
        return "Auto (" + " → ".join(engine().plan("auto")) + ")"
    tier = engine().describe(name)
    return tier["label"] if tier["configured"] else f"{tier['label']} — {tier['status']}"


def attempts_table(attempts) -> None:
    st.dataframe(
        [
            {
                "tier": a.tier,
                "provider": a.provider,
                "model": a.model,
                "outcome": a.outcome,
                "reason": a.reason,
                "latency (s)": round(a.latency_s, 2),
                "cost (USD)": a.cost_usd,
            }
            for a in attempts
        ],
        hide_index=True,
        width="stretch",
    )


st.title("HD Enhance")
st.caption("Turn an ordinary image into an HD one. Without a token, the embedded local models do the work.")

uploaded = st.file_uploader("Image", type=["png", "jpg", "jpeg", "webp", "bmp", "tif", "tiff", "gif"])
left, right = st.columns(2)
scale = left.radio("Scale", [2, 3, 4], index=2, horizontal=True, format_func=lambda s: f"{s}x")
provider = right.selectbox("Provider", ["auto", *engine().registry.names()], format_func=tier_label)

if uploaded is None:
    st.info("Upload a PNG, JPEG, WebP, BMP, TIFF or GIF image to begin.")
    st.stop()

if not st.button("Enhance", type="primary"):
    st.stop()

with st.status("Enhancing…", expanded=False) as status:
    try:
        result = engine().enhance(uploaded.getvalue(), scale, provider)
    except AllTiersFailed as error:
        status.update(label="Every tier failed", state="error")
        st.error(str(error))
        attempts_table(error.attempts)
        st.stop()
    except HDCoreError as error:
        status.update(label="Cannot enhance this file", state="error")
        st.error(str(error))
        st.stop()
    status.update(label=f"Done by {result.provider} ({result.model}) in {result.latency_s:.1f} s", state="complete")

encoded = result.encode("png")
width, height = result.output_size
size = len(encoded.data)
file_size = f"{size / 1e6:.1f} MB" if size >= 1e6 else f"{size / 1e3:.0f} KB"
st.image(result.image, caption=f"{width} × {height}, {file_size} PNG", width="stretch")
st.download_button("Download PNG", encoded.data, file_name=f"enhanced_x{scale}.png", mime=encoded.mime)
for warning in result.warnings + list(encoded.warnings):
    st.warning(warning)
attempts_table(result.attempts)
