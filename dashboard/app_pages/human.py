"""Generated vs human unimodal labels (datasets with human T/A/V labels, e.g. CH-SIMS)."""

import streamlit as st

from dashboard import cache, charts, components, data

st.title("Generated vs human labels")
run = components.require_run()
if not run.has_human:
    st.info(
        "This dataset has no human unimodal labels (only CH-SIMS and CH-SIMS v2 annotate T, A and V "
        "separately), so generated labels cannot be compared with human ones."
    )
    st.stop()
mt = components.mtime_of(run)
st.caption(
    "Polarity agreement uses 3 classes with bins at ±0.1 (negative ≤ −0.1 < neutral ≤ 0.1 < positive), the "
    "bins of the SIMS metrics. "
    "Train split: the generated labels; valid/test: what the unimodal heads predict."
)

gvh = cache.gen_vs_human(run.run_dir, mt)
st.subheader("Generated labels vs human labels, per epoch (train)")
c = st.columns(3)
for col, metric, title in zip(
    c,
    ("pearson_r", "mae", "acc_3"),
    ("Pearson r (higher = closer)", "MAE (lower = closer)", "3-class agreement"),
    strict=True,
):
    components.chart(charts.agreement_chart(gvh, metric, title, data.ym_vs_human(run, "train")),
                     key=f"human_gen_{metric}", where=col)  # fmt: skip
st.caption("Dotted lines: y_m itself taken as the modality's label (epoch 0, before any generation). A generated "
           "label above the dotted line in r or agreement, or below it in MAE, is closer to the human label than "
           "y_m: generation helped. acc_3 = share of samples in the same 3-class polarity.")  # fmt: skip

st.subheader("At one epoch")
epoch = components.epoch_slider(run, key="human_epoch")
modality = st.radio(
    "Modality", ["T", "A", "V"], horizontal=True, key="human_modality", format_func=lambda m: charts.MOD_NAMES[m]
)
table = cache.sample_table(run.run_dir, mt, epoch)
train = table[table["split"] == "train"]
c1, c2 = st.columns(2)
components.chart(charts.gen_vs_human_scatter(train, modality, "gen", epoch), key="human_scatter", where=c1)
c1.caption("Each point is a train sample; on the dashed diagonal the generated label equals the human one.")
cm = data.confusion3(train[f"y_{modality}"].to_numpy(), train[f"gen_{modality}"].to_numpy())
components.chart(
    charts.confusion_heatmap(
        cm,
        f"Polarity: human vs generated {modality} (epoch {epoch})",
        f"generated {modality} polarity",
        f"human {modality} polarity",
    ),
    key="human_confusion",
    where=c2,
)
c2.caption("Counts of train samples; the diagonal is agreement.")

st.subheader("Unimodal heads vs human labels")
split = st.radio("Split", ["valid", "test"], horizontal=True, key="human_split")
hvh = cache.heads_vs_human(run.run_dir, mt, split)
c = st.columns(3)
for col, metric, title in zip(c, ("pearson_r", "mae", "acc_3"), ("Pearson r", "MAE", "3-class agreement"), strict=True):
    components.chart(charts.agreement_chart(hvh, metric, f"Head {title} on {split}", data.ym_vs_human(run, split)),
                     key=f"human_head_{metric}", where=col)  # fmt: skip
part = table[table["split"] == split]
c1, c2 = st.columns(2)
components.chart(charts.gen_vs_human_scatter(part, modality, "pred", epoch), key="human_head_scatter", where=c1)
cmh = data.confusion3(part[f"y_{modality}"].to_numpy(), part[f"pred_{modality}"].to_numpy())
components.chart(
    charts.confusion_heatmap(
        cmh,
        f"Polarity: human vs head {modality} on {split} (epoch {epoch})",
        f"predicted {modality} polarity",
        f"human {modality} polarity",
    ),
    key="human_head_confusion",
    where=c2,
)
