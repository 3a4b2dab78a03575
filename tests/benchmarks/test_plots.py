"""The ``jaccard`` figure shows our mean ± std per dataset × algorithm and the published numbers."""

import math

import numpy as np
import pandas as pd

from setbench.benchmarks import FIGURES, jaccard_figure, save_figure


def _frame():
    rows = [{"dataset": d, "algorithm": a, "seed": s, "status": "ok", "test_jc": base + s}
            for d in ("gaussian", "moons") for a, base in (("DiffMF", 80.0), ("iDiffMF_2", 70.0)) for s in range(3)]
    rows.append({"dataset": "moons", "algorithm": "DiffMF", "seed": 3, "status": "nonfinite", "test_jc": math.nan})
    return pd.DataFrame(rows)


def test_one_panel_per_dataset_with_our_means_and_the_papers():
    figure = jaccard_figure(_frame())
    axes = figure.get_axes()
    assert [ax.get_title() for ax in axes] == ["gaussian", "moons"]
    assert [t.get_text() for t in axes[0].get_xticklabels()] == ["DiffMF", "iDiffMF_2"]
    ours, published = axes[1].containers[0], axes[1].containers[1]
    np.testing.assert_allclose(np.asarray(ours.lines[0].get_ydata(), float), [81.0, 71.0])  # nonfinite seed 3 left out
    # Özcan et al. 2025 on Moons
    np.testing.assert_allclose(np.asarray(published.lines[0].get_ydata(), float), [58.45, 58.48])
    assert [t.get_text() for t in figure.legends[0].get_texts()] == ["setbench", "Özcan et al. 2025 (Table 1)"]


def test_save_writes_png_and_pdf(tmp_path):
    paths = save_figure(FIGURES["jaccard"](_frame()), tmp_path / "fig")
    assert [p.name for p in paths] == ["fig.png", "fig.pdf"]
    assert paths[0].read_bytes()[:4] == b"\x89PNG" and paths[1].read_bytes()[:4] == b"%PDF"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fig.pdf", "fig.png"]  # no temporary files left
