"""Behavioural clusters: the model matrix, K-means with k by silhouette, profiles in words, ARI vs truth.

scikit-learn is imported inside the functions that fit: the runner imports
this module (through ``Segmentation.check_params``) before any kernel starts,
and scikit-learn takes about a second to import.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from salesbench.core.i18n import N_, NP_, messages

_tr = messages(__name__).gettext
_label = messages(__name__).label

#: Behavioural features available to the clustering, in the order they are used.
CLUSTER_FEATURES: list[str] = [
    "recency", "frequency", "monetary", "tenure", "order_rate", "order_value",
    "lines_per_order", "units_per_line", "discount", "channel_mix", "complaints",
]
#: Default feature weights (0 = unused), chosen on the demo company (seeds 0-2) by the
#: adjusted Rand index against its latent customer types and checked to keep k by silhouette
#: stable: units per line (basket depth) separates the types best; recency and tenure say
#: *where* a customer is in its life more than *what kind* of buyer it is, so they weigh
#: less; order value and lines per order are left out (largely implied by monetary,
#: frequency and units per line).
DEFAULT_CLUSTER_WEIGHTS: dict[str, float] = {
    "recency": 0.5, "frequency": 0.25, "monetary": 0.5, "tenure": 0.25, "order_rate": 0.25, "order_value": 0.0,
    "lines_per_order": 0.0, "units_per_line": 1.0, "discount": 0.25, "channel_mix": 0.25, "complaints": 0.25,
}
#: Cluster features transformed with log1p (they can be 0); the others get a plain log.
LOG1P_FEATURES = frozenset({"recency", "tenure", "monetary", "complaints"})

class ClusteringSkipped(ValueError):
    """The data cannot support clusters (too few customers, or none that differ); the message is one sentence.

    ``ClusteringSkipped(N_("... {n}"), n=3)``: ``str(err)`` is the English sentence (stored in the
    results); :meth:`text` is the same sentence in the report's language.
    """

    def __init__(self, message: str, **fields: Any):
        self.message, self.fields = message, fields
        super().__init__(message.format(**fields) if fields else message)

    def text(self) -> str:
        """The reason in the current language."""
        return _tr(self.message, **self.fields)


def cluster_matrix(features: pd.DataFrame, weights: Mapping[str, float] | Sequence[str] | None = None) -> pd.DataFrame:
    """Model matrix for clustering: transformed, standardised, weighted features.

    ``weights`` maps feature names from :data:`CLUSTER_FEATURES` to a weight
    (0 = not used; a plain list means weight 1 each; default
    :data:`DEFAULT_CLUSTER_WEIGHTS`). Features the data lacks are skipped.
    Transforms (all these are heavy-tailed counts, amounts or ratios):
    ``log1p`` for the quantities that can be 0 — recency, tenure, monetary
    (total revenue, floored at 0) and complaints per year; plain ``log`` for
    frequency (≥ 1) and the ratios order_rate, order_value, lines_per_order and
    units_per_line (zeros floored at the smallest positive value), so a ratio
    of 2 vs 1 is as far apart as 20 vs 10; discount and channel shares as they are. Each column is z-scored
    (scikit-learn ``StandardScaler``) and multiplied by its weight, so its
    contribution to the squared Euclidean distance K-means minimises scales
    with weight². The channel-share columns form one group: each is also
    divided by √(number of channels), so the whole mix weighs like one feature.
    Constant columns are dropped; when none is left, :class:`ClusteringSkipped` is raised.
    """
    from sklearn.preprocessing import StandardScaler

    if weights is None:
        weights = DEFAULT_CLUSTER_WEIGHTS
    if not isinstance(weights, Mapping):
        weights = {name: 1.0 for name in weights}
    cols: dict[str, np.ndarray] = {}
    w_of: dict[str, float] = {}
    logs = {"recency": "recency_days", "frequency": "frequency", "monetary": "revenue", "tenure": "tenure_days",
            "order_rate": "order_rate", "order_value": "order_value", "lines_per_order": "lines_per_order",
            "units_per_line": "units_per_line", "complaints": "complaints"}
    for name, w in weights.items():
        if name not in CLUSTER_FEATURES:
            raise ValueError(f"unknown cluster feature {name!r}; choose from {', '.join(CLUSTER_FEATURES)}")
        w = float(w)
        if w < 0:
            raise ValueError(f"cluster weight of {name!r} must be >= 0, not {w}")
        if w == 0:
            continue
        if name in logs and logs[name] in features.columns:
            x = np.clip(features[logs[name]].to_numpy(dtype=float), 0, None)
            if name in LOG1P_FEATURES:
                cols[name] = np.log1p(x)
            else:  # ratios: plain log, zeros floored at the smallest positive value
                pos = x[x > 0]
                cols[name] = np.log(np.maximum(x, pos.min() if len(pos) else 1.0))
            w_of[name] = w
        elif name == "discount" and "discount" in features.columns and features["discount"].notna().any():
            cols[name] = features["discount"].fillna(features["discount"].median()).to_numpy(dtype=float)
            w_of[name] = w
        elif name == "channel_mix":
            share_cols = [c for c in features.columns if c.startswith("share_")]
            for c in share_cols:
                cols[c] = features[c].to_numpy(dtype=float)
                w_of[c] = w / math.sqrt(len(share_cols))
    X = pd.DataFrame(cols, index=features.index)
    X = X.loc[:, X.std(ddof=0) > 0]
    if X.shape[1] == 0:
        raise ClusteringSkipped(N_("no usable cluster feature: every selected behavioural feature is missing "
                                   "or the same for all customers"))
    Z = StandardScaler().fit_transform(X.to_numpy())
    Z = Z * np.array([w_of[c] for c in X.columns])[None, :]
    return pd.DataFrame(Z, index=features.index, columns=X.columns)


@dataclass
class ClusterResult:
    """K-means outcome: labels 1..k (1 = highest average revenue), k, silhouettes per k tried."""

    labels: pd.Series
    k: int
    silhouette: float
    silhouettes: dict[int, float]
    centers: pd.DataFrame
    columns: list[str] = field(default_factory=list)


def cluster_customers(X: pd.DataFrame, k: int | None = None, k_range: Sequence[int] = (3, 8),
                      seed: int = 0, sample: int = 20_000, order_by: pd.Series | None = None) -> ClusterResult:
    """K-means clusters of the rows of ``X`` (from :func:`cluster_matrix`).

    k: fixed, or (``None``) the k in ``k_range`` (inclusive) with the highest mean
    silhouette coefficient (Rousseeuw 1987; scikit-learn ``silhouette_score``).
    Model selection runs on a random sample of at most ``sample`` rows (the
    silhouette is O(n²)); the final model (scikit-learn ``KMeans``, k-means++,
    ``n_init=10``) is fitted on the same sample and assigns every row.
    Cluster numbers are relabelled 1..k by decreasing mean of ``order_by``
    (e.g. revenue) so they are stable across runs. Deterministic given ``seed``.
    Too few (distinct) customers for any k raise :class:`ClusteringSkipped`.
    """
    from threadpoolctl import threadpool_limits

    n = len(X)
    if n < 3:
        raise ClusteringSkipped(N_("clustering needs at least 3 customers and the data has {n}"), n=n)
    rng = np.random.default_rng(seed)
    idx = np.sort(rng.choice(n, size=sample, replace=False)) if n > sample else np.arange(n)
    Xs = X.to_numpy()[idx]
    lo, hi = int(k_range[0]), int(k_range[-1])
    candidates = [k] if k else list(range(max(2, lo), min(hi, len(Xs) - 1) + 1))
    if k and k >= len(Xs):
        raise ClusteringSkipped(N_("k = {k} clusters needs more than {k} customers and the data has {n}"),
                                k=k, n=len(Xs))
    if not candidates:
        raise ClusteringSkipped(N_("k between {lo} and {hi} needs more than {least} customers and the data has {n}"),
                                lo=lo, hi=hi, least=max(2, lo), n=len(Xs))
    sil_n = min(len(Xs), 10_000)
    scores: dict[int, float] = {}
    models = {}
    # One thread for BLAS *and* OpenMP: on a 2-core machine with another busy process, scikit-learn's
    # OpenMP K-means spins and was measured 100x slower (154 s vs 1.2 s for k = 2..8 on 5,000 x 12).
    with threadpool_limits(limits=1):
        for kk in candidates:
            _fit_one(kk, Xs, seed, scores, models)
        # every k's silhouette from one pass over the distances (they are the same rows for every k)
        scores.update(silhouettes(Xs, {kk: models[kk].labels_ for kk in candidates if kk not in scores}, seed,
                                  sil_n if sil_n < len(Xs) else None))
    scores = {kk: scores[kk] for kk in candidates}  # in the order of k
    valid = [kk for kk in scores if not math.isnan(scores[kk])]
    if not k and not valid:
        raise ClusteringSkipped(N_("no k gives two or more distinct clusters: the customers differ too little"))
    best = k or max(valid, key=lambda kk: scores[kk])
    km = models[best]
    with threadpool_limits(limits=1):
        raw = km.predict(X.to_numpy())
    key = order_by.to_numpy(dtype=float) if order_by is not None else np.zeros(n)
    means = pd.Series(key).groupby(raw).mean().reindex(range(best)).fillna(-np.inf)
    ranking = means.sort_values(ascending=False, kind="mergesort").index.to_list()
    relabel = {old: new + 1 for new, old in enumerate(ranking)}
    labels = pd.Series(np.array([relabel[i] for i in range(best)])[raw], index=X.index, dtype="int64")
    centers = pd.DataFrame(km.cluster_centers_, columns=X.columns).rename(index=relabel).sort_index()
    return ClusterResult(labels, best, scores[best], scores, centers, list(X.columns))


def _fit_one(k: int, Xs: np.ndarray, seed: int, scores: dict, models: dict) -> None:
    """Fit K-means with ``k`` clusters on ``Xs`` and store the model; a NaN score when it found fewer than two
    distinct clusters (its silhouette, otherwise, comes from :func:`silhouettes`)."""
    from sklearn.cluster import KMeans
    from sklearn.exceptions import ConvergenceWarning

    with warnings.catch_warnings():  # duplicate customers give fewer distinct clusters than k: judged below, not printed
        warnings.simplefilter("ignore", ConvergenceWarning)
        km = KMeans(n_clusters=k, n_init=10, random_state=seed).fit(Xs)
    models[k] = km
    if len(set(km.labels_)) < 2:
        scores[k] = float("nan")


def silhouettes(Xs: np.ndarray, labelings: Mapping[int, np.ndarray], seed: int,
                sample_size: int | None = None) -> dict[int, float]:
    """The mean silhouette coefficient of each labelling of the rows of ``Xs`` (``{k: labels}``), Euclidean.

    Exactly ``sklearn.metrics.silhouette_score(Xs, labels, sample_size=sample_size, random_state=seed)``
    for each labelling — the same random sample of rows, the same chunks of the distance matrix (at most
    128 MB each) and scikit-learn's own per-chunk reduction — but the pairwise distances, most of the cost,
    are computed once for all labellings instead of once per k (six times for k = 3..8). A labelling with one
    cluster (or one per row) raises scikit-learn's ``ValueError``.
    """
    import sklearn
    from sklearn.metrics import pairwise_distances_chunked
    from sklearn.metrics.cluster import _unsupervised as unsup
    from sklearn.preprocessing import LabelEncoder
    from sklearn.utils import check_array, check_random_state

    if not labelings:
        return {}
    X = check_array(Xs, accept_sparse=["csr"])
    if sample_size is not None:
        indices = check_random_state(seed).permutation(X.shape[0])[:sample_size]
        X = X[indices]
        labelings = {k: np.asarray(lab)[indices] for k, lab in labelings.items()}
    coded = {}
    for k, lab in labelings.items():
        le = LabelEncoder()
        codes = le.fit_transform(np.asarray(lab))
        unsup.check_number_of_labels(len(le.classes_), len(codes))
        coded[k] = (codes, np.bincount(codes))
    parts: dict[int, tuple[list, list]] = {k: ([], []) for k in coded}
    start = 0
    # silhouette works through the distance matrix in chunks: cap the chunk memory (default 1 GB) at 128 MB
    with sklearn.config_context(working_memory=128):
        for chunk in pairwise_distances_chunked(X, metric="euclidean"):
            for k, (codes, freqs) in coded.items():
                intra, inter = unsup._silhouette_reduce(chunk, start, labels=codes, label_freqs=freqs)
                parts[k][0].append(intra)
                parts[k][1].append(inter)
            start += chunk.shape[0]
    out = {}
    for k, (codes, freqs) in coded.items():
        intra, inter = np.concatenate(parts[k][0]), np.concatenate(parts[k][1])
        with np.errstate(divide="ignore", invalid="ignore"):
            intra /= (freqs - 1).take(codes, mode="clip")
            sil = inter - intra
            sil /= np.maximum(intra, inter)
        out[k] = float(np.mean(np.nan_to_num(sil)))  # NaN: a cluster of one row, whose silhouette is 0
    return out


#: the words of a cluster profile, marked for the catalogs (context "profile")
PROFILE_WORDS = (NP_("profile", "one-time"), NP_("profile", "very frequent"), NP_("profile", "frequent"),
                 NP_("profile", "infrequent"), NP_("profile", "regular"), NP_("profile", "very large"),
                 NP_("profile", "large"), NP_("profile", "small"), NP_("profile", "mid-size"))
#: one whole template per combination of (main channel shown, recency word)
PROFILE_TEMPLATES: dict[tuple[bool, str | None], str] = {
    (False, None): N_("{rate} {size} buyers"),
    (True, None): N_("{rate} {size} buyers, mostly {channel}"),
    (False, "mostly lapsed"): N_("{rate} {size} buyers, mostly lapsed"),
    (True, "mostly lapsed"): N_("{rate} {size} buyers, mostly {channel}, mostly lapsed"),
    (False, "recently active"): N_("{rate} {size} buyers, recently active"),
    (True, "recently active"): N_("{rate} {size} buyers, mostly {channel}, recently active"),
}


def profile_text(parts: Mapping[str, str | None], translate: bool = True) -> str:
    """A cluster profile from its words (``rate``, ``size``, ``channel`` or None, ``recency`` or None).

    ``translate=False`` gives the English profile (the exported one); otherwise
    the words and the template are in the current language (a channel name the
    catalog does not know stays as the data has it).
    """
    template = PROFILE_TEMPLATES[(parts.get("channel") is not None, parts.get("recency"))]
    fields = {"rate": parts["rate"], "size": parts["size"], "channel": parts.get("channel")}
    if not translate:
        return template.format(**fields)
    fields = {"rate": _label("profile", fields["rate"]), "size": _label("profile", fields["size"]),
              "channel": _label("channel", fields["channel"])}
    return _tr(template, **fields)


def describe_clusters(features: pd.DataFrame, labels: pd.Series) -> pd.DataFrame:
    """Cluster profiles with a plain-words description per cluster.

    Per cluster: customers, share, median orders, median order rate (per year),
    median order value, median recency (days), revenue share and, if present,
    mean discount, complaints per year and the main channel (largest mean
    revenue share). The description compares the cluster medians with the
    medians of all customers: order rate ≥ 10× → "very frequent", ≥ 1.5× →
    "frequent", ≤ 0.67× → "infrequent", else "regular" (median orders = 1 →
    "one-time"); order value ≥ 10× → "very large", ≥ 1.5× → "large", ≤ 0.67× →
    "small", else "mid-size"; "mostly <channel>" when that channel has > 50% of the
    cluster's revenue; recency ≥ 2× the overall median → "mostly lapsed",
    ≤ 0.5× → "recently active". Example: "frequent large buyers, mostly direct".
    The ``profile`` column is English (it is exported); ``attrs["profile_parts"]``
    keeps the words per cluster for :func:`profile_text` in the report's language.
    """
    f = features.assign(cluster=labels.to_numpy())
    overall = {"rate": f["order_rate"].median(), "aov": f["order_value"].median(), "rec": f["recency_days"].median()}
    share_cols = [c for c in f.columns if c.startswith("share_")]
    rows = []
    parts: dict[int, dict[str, str | None]] = {}
    total_rev = f["revenue"].sum()
    for c, g in f.groupby("cluster"):
        row: dict[str, Any] = {
            "cluster": int(c), "customers": len(g), "customer_share": len(g) / len(f),
            "median_orders": float(g["frequency"].median()), "median_order_rate": float(g["order_rate"].median()),
            "median_order_value": float(g["order_value"].median()), "median_recency_days": float(g["recency_days"].median()),
            "revenue_share": float(g["revenue"].sum() / total_rev) if total_rev else np.nan,
        }
        if "discount" in g:
            row["mean_discount"] = float(g["discount"].mean())
        if "complaints" in g:
            row["complaints_per_year"] = float(g["complaints"].mean())
        if row["median_orders"] <= 1:
            rate = "one-time"
        else:
            ratio = row["median_order_rate"] / overall["rate"] if overall["rate"] else 1
            rate = ("very frequent" if ratio >= 10 else "frequent" if ratio >= 1.5
                    else "infrequent" if ratio <= 0.67 else "regular")
        ratio = row["median_order_value"] / overall["aov"] if overall["aov"] else 1
        size = "very large" if ratio >= 10 else "large" if ratio >= 1.5 else "small" if ratio <= 0.67 else "mid-size"
        channel = None
        if share_cols:
            means = g[share_cols].mean()
            top = means.idxmax()
            row["main_channel"] = top.removeprefix("share_")
            if means[top] > 0.5:
                channel = row["main_channel"]
        rr = row["median_recency_days"] / overall["rec"] if overall["rec"] else 1
        recency = "mostly lapsed" if rr >= 2 else "recently active" if rr <= 0.5 else None
        parts[int(c)] = {"rate": rate, "size": size, "channel": channel, "recency": recency}
        row["profile"] = profile_text(parts[int(c)], translate=False)
        rows.append(row)
    out = pd.DataFrame(rows)
    out.attrs["profile_parts"] = parts
    return out


def cluster_ari(labels: pd.Series, customer_ids: pd.Series, truth: pd.DataFrame) -> float:
    """Adjusted Rand index (Hubert & Arabie 1985) of clusters vs the demo's latent ``customer_type``.

    ``truth`` is ``ds.truth_customers()``; customers are matched on id. 1 =
    identical partitions, ≈ 0 = chance agreement.
    """
    from sklearn.metrics import adjusted_rand_score

    t = truth.assign(customer_id=truth["customer_id"].astype(str)).set_index("customer_id")["customer_type"]
    ids = customer_ids.astype(str).to_numpy()
    mask = pd.Index(ids).isin(t.index)
    return float(adjusted_rand_score(t.loc[ids[mask]].to_numpy(), labels.to_numpy()[mask]))


