"""Published long-horizon results (MSE/MAE on z-scored data, ``features=M``) and our targets.

Transcribed from ``benchmarks.md`` §2 (the project's reference file), which cites, per column:

* ``PatchTST/64 L512``, ``PatchTST/42 L336``: ``yuqinie98/PatchTST:pic/table3.png``, paper
  Table 3 (ILI: L=104 per the repo script ``illness.sh``).
* ``DLinear L336``: ``cure-lab/LTSF-Linear:pics/Mul-results.png``, paper Table 2 (ILI: L=104).
* ``TimeMixer searched`` / ``TimeMixer L96``: ``kwuking/TimeMixer:figures/long_results.png``
  ("Searched" / "Unified Hyperparameter" panels).
* ``iTransformer L96`` and the ``(iT)`` columns: iTransformer paper full-results table (L=96),
  as reproduced in the S-Mamba paper's LaTeX source.
* ``P-sLSTM L336``: ``naiveraider/LLMsForTimeSeries:P-sLSTM/Appendices.pdf`` Tables 12-14
  (MSE only for ETTm1).
* ``xLSTM-Mixer``: averages only, from a third-party summary (secondary source, †).

Regimes: ``long`` = long/searched look-back (336/512/searched; ILI 104), ``short`` = the
TSLib "Look-Back-96" leaderboard (ILI: 36, no published numbers collected).
Values are ``(mse, mae)``; ``mae`` is ``None`` where a paper gives MSE only.
"""

from __future__ import annotations

Pair = tuple[float, float | None]

SOURCES: dict[str, str] = {
    "PatchTST/64 L512": "yuqinie98/PatchTST:pic/table3.png (paper Table 3), L=512",
    "PatchTST/42 L336": "yuqinie98/PatchTST:pic/table3.png (paper Table 3), L=336 (ILI 104)",
    "DLinear L336": "cure-lab/LTSF-Linear:pics/Mul-results.png (paper Table 2), L=336 (ILI 104)",
    "TimeMixer searched": "kwuking/TimeMixer:figures/long_results.png, 'Searched' panel",
    "P-sLSTM L336": "naiveraider/LLMsForTimeSeries:P-sLSTM/Appendices.pdf Tables 12-14, L=336",
    "iTransformer L96": "iTransformer paper full results (L=96), via S-Mamba LaTeX source",
    "TimeMixer L96": "kwuking/TimeMixer:figures/long_results.png, 'Unified Hyperparameter' panel",
    "PatchTST (iT) L96": "iTransformer paper full results (L=96)",
    "DLinear (iT) L96": "iTransformer paper full results (L=96)",
    "TimesNet (iT) L96": "iTransformer paper full results (L=96)",
    "xLSTM-Mixer †": "third-party summary of the NeurIPS-2025 version (averages only, unverified)",
}


def _t(*rows: Pair) -> dict[int, Pair]:
    return dict(zip((96, 192, 336, 720), rows, strict=True))


def _ili(*rows: Pair) -> dict[int, Pair]:
    return dict(zip((24, 36, 48, 60), rows, strict=True))


PUBLISHED: dict[str, dict[str, dict[str, dict[int, Pair]]]] = {
    "long": {
        "ETTh1": {
            "PatchTST/64 L512": _t((0.370, 0.400), (0.413, 0.429), (0.422, 0.440), (0.447, 0.468)),
            "PatchTST/42 L336": _t((0.375, 0.399), (0.414, 0.421), (0.431, 0.436), (0.449, 0.466)),
            "DLinear L336": _t((0.375, 0.399), (0.405, 0.416), (0.439, 0.443), (0.472, 0.490)),
            "TimeMixer searched": _t((0.361, 0.390), (0.409, 0.414), (0.430, 0.429), (0.445, 0.460)),
        },
        "ETTh2": {
            "PatchTST/64 L512": _t((0.274, 0.337), (0.341, 0.382), (0.329, 0.384), (0.379, 0.422)),
            "PatchTST/42 L336": _t((0.274, 0.336), (0.339, 0.379), (0.331, 0.380), (0.379, 0.422)),
            "DLinear L336": _t((0.289, 0.353), (0.383, 0.418), (0.448, 0.465), (0.605, 0.551)),
            "TimeMixer searched": _t((0.271, 0.330), (0.317, 0.402), (0.332, 0.396), (0.342, 0.408)),
        },
        "ETTm1": {
            "PatchTST/64 L512": _t((0.293, 0.346), (0.333, 0.370), (0.369, 0.392), (0.416, 0.420)),
            "PatchTST/42 L336": _t((0.290, 0.342), (0.332, 0.369), (0.366, 0.392), (0.420, 0.424)),
            "DLinear L336": _t((0.299, 0.343), (0.335, 0.365), (0.369, 0.386), (0.425, 0.421)),
            "TimeMixer searched": _t((0.291, 0.340), (0.327, 0.365), (0.360, 0.381), (0.415, 0.417)),
            "P-sLSTM L336": _t((0.292, None), (0.329, None), (0.362, None), (0.421, None)),
        },
        "ETTm2": {
            "PatchTST/64 L512": _t((0.166, 0.256), (0.223, 0.296), (0.274, 0.329), (0.362, 0.385)),
            "PatchTST/42 L336": _t((0.165, 0.255), (0.220, 0.292), (0.278, 0.329), (0.367, 0.385)),
            "DLinear L336": _t((0.167, 0.260), (0.224, 0.303), (0.281, 0.342), (0.397, 0.421)),
            "TimeMixer searched": _t((0.164, 0.254), (0.223, 0.295), (0.279, 0.330), (0.359, 0.383)),
        },
        "weather": {
            "PatchTST/64 L512": _t((0.149, 0.198), (0.194, 0.241), (0.245, 0.282), (0.314, 0.334)),
            "PatchTST/42 L336": _t((0.152, 0.199), (0.197, 0.243), (0.249, 0.283), (0.320, 0.335)),
            "DLinear L336": _t((0.176, 0.237), (0.220, 0.282), (0.265, 0.319), (0.323, 0.362)),
            "TimeMixer searched": _t((0.147, 0.197), (0.189, 0.239), (0.241, 0.280), (0.310, 0.330)),
            "P-sLSTM L336": _t((0.149, 0.208), (0.197, 0.256), (0.249, 0.297), (0.320, 0.350)),
        },
        "exchange_rate": {
            "DLinear L336": _t((0.081, 0.203), (0.157, 0.293), (0.305, 0.414), (0.643, 0.601)),
        },
        "national_illness": {
            "PatchTST/64 L512": _ili((1.319, 0.754), (1.579, 0.870), (1.553, 0.815), (1.470, 0.788)),
            "PatchTST/42 L336": _ili((1.522, 0.814), (1.430, 0.834), (1.673, 0.854), (1.529, 0.862)),
            "DLinear L336": _ili((2.215, 1.081), (1.963, 0.963), (2.130, 1.024), (2.368, 1.096)),
        },
    },
    "short": {
        "ETTh1": {
            "iTransformer L96": _t((0.386, 0.405), (0.441, 0.436), (0.487, 0.458), (0.503, 0.491)),
            "TimeMixer L96": _t((0.375, 0.400), (0.429, 0.421), (0.484, 0.458), (0.498, 0.482)),
            "PatchTST (iT) L96": _t((0.414, 0.419), (0.460, 0.445), (0.501, 0.466), (0.500, 0.488)),
            "DLinear (iT) L96": _t((0.386, 0.400), (0.437, 0.432), (0.481, 0.459), (0.519, 0.516)),
            "TimesNet (iT) L96": _t((0.384, 0.402), (0.436, 0.429), (0.491, 0.469), (0.521, 0.500)),
        },
        "ETTh2": {
            "iTransformer L96": _t((0.297, 0.349), (0.380, 0.400), (0.428, 0.432), (0.427, 0.445)),
            "TimeMixer L96": _t((0.289, 0.341), (0.372, 0.392), (0.386, 0.414), (0.412, 0.434)),
            "PatchTST (iT) L96": _t((0.302, 0.348), (0.388, 0.400), (0.426, 0.433), (0.431, 0.446)),
            "DLinear (iT) L96": _t((0.333, 0.387), (0.477, 0.476), (0.594, 0.541), (0.831, 0.657)),
            "TimesNet (iT) L96": _t((0.340, 0.374), (0.402, 0.414), (0.452, 0.452), (0.462, 0.468)),
        },
        "ETTm1": {
            "iTransformer L96": _t((0.334, 0.368), (0.377, 0.391), (0.426, 0.420), (0.491, 0.459)),
            "TimeMixer L96": _t((0.320, 0.357), (0.361, 0.381), (0.390, 0.404), (0.454, 0.441)),
            "PatchTST (iT) L96": _t((0.329, 0.367), (0.367, 0.385), (0.399, 0.410), (0.454, 0.439)),
            "DLinear (iT) L96": _t((0.345, 0.372), (0.380, 0.389), (0.413, 0.413), (0.474, 0.453)),
            "TimesNet (iT) L96": _t((0.338, 0.375), (0.374, 0.387), (0.410, 0.411), (0.478, 0.450)),
        },
        "ETTm2": {
            "iTransformer L96": _t((0.180, 0.264), (0.250, 0.309), (0.311, 0.348), (0.412, 0.407)),
            "TimeMixer L96": _t((0.175, 0.258), (0.237, 0.299), (0.298, 0.340), (0.391, 0.396)),
            "PatchTST (iT) L96": _t((0.175, 0.259), (0.241, 0.302), (0.305, 0.343), (0.402, 0.400)),
            "DLinear (iT) L96": _t((0.193, 0.292), (0.284, 0.362), (0.369, 0.427), (0.554, 0.522)),
            "TimesNet (iT) L96": _t((0.187, 0.267), (0.249, 0.309), (0.321, 0.351), (0.408, 0.403)),
        },
        "weather": {
            "iTransformer L96": _t((0.174, 0.214), (0.221, 0.254), (0.278, 0.296), (0.358, 0.347)),
            "TimeMixer L96": _t((0.163, 0.209), (0.208, 0.250), (0.251, 0.287), (0.339, 0.341)),
            "PatchTST (iT) L96": _t((0.177, 0.218), (0.225, 0.259), (0.278, 0.297), (0.354, 0.348)),
            "DLinear (iT) L96": _t((0.196, 0.255), (0.237, 0.296), (0.283, 0.335), (0.345, 0.381)),
            "TimesNet (iT) L96": _t((0.172, 0.220), (0.219, 0.261), (0.280, 0.306), (0.365, 0.359)),
        },
        "exchange_rate": {
            "iTransformer L96": _t((0.086, 0.206), (0.177, 0.299), (0.331, 0.417), (0.847, 0.691)),
            "PatchTST (iT) L96": _t((0.088, 0.205), (0.176, 0.299), (0.301, 0.397), (0.901, 0.714)),
            "DLinear (iT) L96": _t((0.088, 0.218), (0.176, 0.315), (0.313, 0.427), (0.839, 0.695)),
            "TimesNet (iT) L96": _t((0.107, 0.234), (0.226, 0.344), (0.367, 0.448), (0.964, 0.746)),
        },
    },
}

#: Average MSE over the four horizons, xLSTM-Mixer (secondary source, L 336-768).
XLSTM_MIXER_AVG_MSE: dict[str, float] = {
    "ETTh1": 0.397, "ETTh2": 0.340, "ETTm1": 0.339, "ETTm2": 0.248, "weather": 0.219,
}

#: Issue-5 targets: long look-back, average MSE over the four horizons, mean of 3 seeds.
TARGETS: dict[str, float] = {
    "ETTh1": 0.395,
    "ETTm1": 0.337,
    "weather": 0.217,
    "exchange_rate": 0.290,
    "national_illness": 1.45,
}
TARGET_SEEDS = 3

#: Published column that reports the same architecture as one of our baselines.
SAME_MODEL: dict[str, dict[str, str]] = {
    "long": {"dlinear": "DLinear L336", "patchtst": "PatchTST/42 L336"},
    "short": {"dlinear": "DLinear (iT) L96", "patchtst": "PatchTST (iT) L96"},
}

STANDARD_HORIZONS = (96, 192, 336, 720)
ILI_HORIZONS = (24, 36, 48, 60)


def horizons_for(dataset: str) -> tuple[int, ...]:
    """The benchmark horizons of a dataset (ILI: 24/36/48/60, else 96/192/336/720)."""
    return ILI_HORIZONS if dataset == "national_illness" else STANDARD_HORIZONS


def published(dataset: str, regime: str) -> dict[str, dict[int, Pair]]:
    """``{source: {H: (mse, mae)}}`` for a dataset (canonical name) and regime, or ``{}``."""
    return PUBLISHED.get(regime, {}).get(dataset, {})


def published_avg(dataset: str, regime: str) -> dict[str, float]:
    """Average MSE over the four horizons per published source (plus xLSTM-Mixer, long)."""
    out = {src: round(sum(v[0] for v in rows.values()) / len(rows), 4)
           for src, rows in published(dataset, regime).items()}
    if regime == "long" and dataset in XLSTM_MIXER_AVG_MSE:
        out["xLSTM-Mixer †"] = XLSTM_MIXER_AVG_MSE[dataset]
    return out
