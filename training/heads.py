"""Window-level classifiers trained from text-level labels, and the metrics used to judge them.

A text is scored by its most suspicious window (max over windows). Labels are per text, so a
long injection text has windows that hold no attack. Training is a small multiple-instance loop:
round 1 uses every window of benign texts as negatives and single-window injection texts as
positives; each later round adds, for every multi-window injection text, the window the current
model scores highest.
"""

from __future__ import annotations

import numpy as np

import common as c

CAL_FRACTION = 0.2  # share of each source's benign texts held back to choose thresholds


def split_calibration(rows, idx, seed=c.SEED):
    """Split row indices ``idx`` into (fit, calibration): CAL_FRACTION of each source's benign
    rows go to calibration; injection rows always go to fit."""
    rng = np.random.RandomState(seed)
    fit, cal = [], []
    by_src: dict[str, list[int]] = {}
    for i in idx:
        if rows[i].label == 1:
            fit.append(i)
        else:
            by_src.setdefault(rows[i].source, []).append(i)
    for s in sorted(by_src):
        b = np.array(by_src[s])
        rng.shuffle(b)
        k = int(round(len(b) * CAL_FRACTION))
        cal.extend(b[:k].tolist())
        fit.extend(b[k:].tolist())
    return np.array(sorted(fit)), np.array(sorted(cal))


def window_index(win_row, n_rows):
    """Per row, the array of its window indices."""
    order = np.argsort(win_row, kind="stable")
    bounds = np.searchsorted(win_row[order], np.arange(n_rows + 1))
    return [order[bounds[i] : bounds[i + 1]] for i in range(n_rows)]


def text_scores(win_scores, per_row, idx):
    return np.array([win_scores[per_row[i]].max() for i in idx])


def sample_weights(keys, labels):
    """Each (source, label) group gets total weight ~ sqrt(group size); classes balanced."""
    keys = np.asarray(keys)
    labels = np.asarray(labels)
    w = np.zeros(len(keys))
    for k in np.unique(keys):
        for y in (0, 1):
            m = (keys == k) & (labels == y)
            n = m.sum()
            if n:
                w[m] = 1.0 / np.sqrt(n)
    for y in (0, 1):
        m = labels == y
        if m.any():
            w[m] *= m.sum() / w[m].sum()
    return w * len(w) / w.sum()


def mil_fit(rows, per_row, fit_rows, fit_fn, score_fn, rounds=3, return_windows=False):
    """Multiple-instance training loop. ``fit_fn(win_idx, y, w) -> model``,
    ``score_fn(model, win_idx) -> scores``. Returns the final model (and, with
    ``return_windows``, the negative and positive window indices of the last round)."""
    neg = [w for i in fit_rows if rows[i].label == 0 for w in per_row[i]]
    single = [per_row[i][0] for i in fit_rows if rows[i].label == 1 and len(per_row[i]) == 1]
    multi = [i for i in fit_rows if rows[i].label == 1 and len(per_row[i]) > 1]
    pos = list(single)
    model = None
    for r in range(rounds):
        if r > 0:
            if not multi:
                break
            cand = np.concatenate([per_row[i] for i in multi])
            s = score_fn(model, cand)
            k = 0
            pos = list(single)
            for i in multi:
                n = len(per_row[i])
                pos.append(int(cand[k + int(np.argmax(s[k : k + n]))]))
                k += n
        win = np.array(neg + pos)
        y = np.array([0] * len(neg) + [1] * len(pos))
        src = [rows[i].source for i in _rows_of(win, per_row, rows)]
        model = fit_fn(win, y, sample_weights(src, y))
    if return_windows:
        return model, neg, pos
    return model


_ROW_OF = {}


def _rows_of(win, per_row, rows):
    key = id(per_row)
    if key not in _ROW_OF:
        m = np.zeros(sum(len(p) for p in per_row), dtype=np.int64)
        for i, p in enumerate(per_row):
            m[p] = i
        _ROW_OF.clear()
        _ROW_OF[key] = m
    return _ROW_OF[key][win]


# --- dense head: logistic regression on pooled embeddings ------------------------------------
def newton_lr(Z, y, w, l2=1.0, iters=25, tol=1e-7):
    """Weighted L2-regularised logistic regression by Newton's method (intercept not penalised).
    Minimises sum_i w_i * logloss_i + l2/2 * |beta|^2. Returns (beta, intercept)."""
    n, d = Z.shape
    A = np.hstack([Z, np.ones((n, 1), Z.dtype)]).astype(np.float64)
    theta = np.zeros(d + 1)
    reg = np.full(d + 1, l2)
    reg[-1] = 0.0
    prev = np.inf
    for _ in range(iters):
        z = A @ theta
        p = sigmoid_stable(z)
        loss = float((w * (np.logaddexp(0, z) - y * z)).sum() + 0.5 * (reg * theta * theta).sum())
        g = A.T @ (w * (p - y)) + reg * theta
        Hs = A.T @ (A * (w * p * (1 - p))[:, None]) + np.diag(reg + 1e-9)
        theta -= np.linalg.solve(Hs, g)
        if prev - loss < tol * max(1.0, abs(loss)):
            break
        prev = loss
    return theta[:-1], float(theta[-1])


def sigmoid_stable(z):
    return np.where(z >= 0, 1 / (1 + np.exp(-np.abs(z))), np.exp(-np.abs(z)) / (1 + np.exp(-np.abs(z))))


def dense_lr(X, l2=1.0):
    def fit(win, y, w):
        Xw = X[win].astype(np.float64)
        mu, sd = Xw.mean(0), Xw.std(0) + 1e-6
        beta, b0 = newton_lr((Xw - mu) / sd, y.astype(np.float64), w, l2=l2)
        coef = beta / sd
        return coef, float(b0 - (coef * mu).sum())

    def score(model, win):
        coef, b = model
        return c.sigmoid(X[win] @ coef + b)

    return fit, score


# --- first tier: logistic regression on hashed n-grams ---------------------------------------
def sparse_lr(Xs, C=4.0):
    from sklearn.linear_model import LogisticRegression

    def fit(win, y, w):
        lr = LogisticRegression(C=C, solver="liblinear", max_iter=200, tol=1e-5)
        lr.fit(Xs[win], y, sample_weight=w)
        return lr.coef_[0].astype(np.float64), float(lr.intercept_[0])

    def score(model, win):
        coef, b = model
        return c.sigmoid(Xs[win] @ coef + b)

    return fit, score


# --- metrics -------------------------------------------------------------------------------
def threshold_at_fpr(benign_scores, fpr=0.01):
    """Smallest threshold t (decision: score >= t) with FPR <= fpr on ``benign_scores``."""
    s = np.sort(np.asarray(benign_scores))[::-1]
    k = int(np.floor(fpr * len(s)))  # at most k benign texts may reach t
    if k >= len(s):
        return float(s[-1])
    return float(np.nextafter(s[k], np.inf))


def auc(pos, neg):
    pos, neg = np.asarray(pos), np.asarray(neg)
    if len(pos) == 0 or len(neg) == 0:
        return None
    allv = np.concatenate([pos, neg])
    order = allv.argsort(kind="mergesort")
    ranks = np.empty(len(allv))
    sv = allv[order]
    i = 0
    while i < len(sv):  # average ranks for ties
        j = i
        while j + 1 < len(sv) and sv[j + 1] == sv[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2.0 + 1
        i = j + 1
    rp = ranks[: len(pos)].sum()
    return float((rp - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg)))


def tpr_at_fpr(pos, neg, fpr=0.01):
    if len(pos) == 0 or len(neg) == 0:
        return None
    t = threshold_at_fpr(neg, fpr)
    return float((np.asarray(pos) >= t).mean())
