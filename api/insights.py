"""Customer value (RFM segments) and product recommendations, recomputed in the background.

Never on the request path: ``rebuild()`` reads every member's transactions, scores them and writes one
``member_insights`` row per member, which the card reads with one lookup.

**RFM rule.** Over the last 365 days of transactions (every store on this database), per member:
recency R = days since the last purchase, frequency F = number of transactions, monetary M = total spend
(in ``store.currency``; other currencies count for R and F only). Each is scored 1 to 5 by its quintile
among the members who bought in the period (R reversed: more recent scores higher; ties share a score).
The segment is the first that applies: ``champion`` (R >= 4, F >= 4, M >= 4), ``at risk`` (R <= 2,
F >= 3), ``loyal`` (F >= 4), ``big spender`` (M >= 4), ``new`` (R >= 4, F <= 2), ``hibernating``
(R <= 2), else ``regular``; a member with no purchase in the period is ``no purchases yet``. On the card,
M is shown as purchasing power, F as loyalty and R as willingness to buy.

**Recommendations.** An item-item model (``implicit``'s cosine nearest neighbours) on the member x
product matrix of every transaction line; each member gets up to ``TOP`` products they never bought,
in stock, and in their size where the catalogue lists sizes and the member has one on file for that
category. Each carries its reason: "bought by customers who bought X" (X: the member's purchase most
similar to it), or, to fill up, "new in your size (M)" for new arrivals in their size.
"""

from __future__ import annotations

import json
import logging
import threading
import warnings
from collections import defaultdict
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.sparse import csr_matrix
from scipy.stats import rankdata
from sqlalchemy import delete, func, insert, select

from storelens.books.schema import member_insights, members, products, transaction_lines, transactions
from storelens.clock import iso, utc_now
from storelens.i18n import N_
from storelens.web.reports import parse_ts as parse_iso
from storelens.workers import Periodic

log = logging.getLogger(__name__)
TOP = 5  # recommendations per member (the card shows 3 to 5)
CANDIDATES = 40  # model candidates per member before the stock and size filters
WINDOW_DAYS = 365
WRITE_BATCH = 5000


def quintile_scores(values: NDArray[np.float64], higher_is_better: bool = True) -> NDArray[np.int64]:
    """Scores 1 to 5 by quintile (ties share a score); shape (N,) -> (N,)."""
    if len(values) == 0:
        return np.zeros(0, np.int64)
    ranks = rankdata(values if higher_is_better else -values, method="max") / len(values)  # in (0, 1]
    return np.clip(np.ceil(ranks * 5), 1, 5).astype(np.int64)


def segment(r: int, f: int, m: int) -> str:
    """The RFM segment of scores ``r``, ``f``, ``m`` (1 to 5; 0: no purchase in the period)."""
    rules = [  # each name a catalogued word: the iPad shows it in its reader's language
        (N_("champion"), r >= 4 and f >= 4 and m >= 4),
        (N_("at risk"), r <= 2 and f >= 3),
        (N_("loyal"), f >= 4),
        (N_("big spender"), m >= 4),
        (N_("new"), r >= 4 and f <= 2),
        (N_("hibernating"), r <= 2),
    ]
    if r == 0:
        return N_("no purchases yet")
    return next((name for name, holds in rules if holds), N_("regular"))


@dataclass(frozen=True)
class Catalogue:
    """What the filters need of each product."""

    name: dict[str, str]
    category: dict[str, str]
    sizes: dict[str, list[str]]
    in_stock: set[str]
    new: list[str]  # new and in stock, most bought first


def _catalogue(conn: Any) -> Catalogue:
    rows = conn.execute(
        select(
            products.c.sku,
            products.c.name,
            products.c.category,
            products.c.sizes,
            products.c.in_stock,
            products.c.is_new,
        )
    ).all()
    popularity = dict(
        conn.execute(select(transaction_lines.c.sku, func.count()).group_by(transaction_lines.c.sku)).all()
    )
    new = sorted((r[0] for r in rows if r[5] and r[4]), key=lambda sku: (-popularity.get(sku, 0), sku))
    return Catalogue(
        name={r[0]: r[1] for r in rows},
        category={r[0]: r[2] for r in rows},
        sizes={r[0]: json.loads(r[3] or "[]") for r in rows},
        in_stock={r[0] for r in rows if r[4]},
        new=new,
    )


def fits(sku: str, sizes_on_file: dict[str, str], catalogue: Catalogue) -> str | None:
    """The member's size when ``sku`` is in stock in it ("" when sizes do not apply), None when it is not."""
    if sku not in catalogue.in_stock:
        return None
    offered = catalogue.sizes.get(sku) or []
    wanted = sizes_on_file.get(catalogue.category.get(sku, ""))
    if not offered or wanted is None:
        return ""
    return wanted if wanted in offered else None


class InsightsBuilder:
    """Recomputes every member's value segment and recommendations.

    Args:
        engine: the books' SQLAlchemy engine.
        currency: the currency spend is summed in (``store.currency``).
    """

    def __init__(self, engine: Any, currency: str) -> None:
        self.engine, self.currency = engine, currency

    def rebuild(self) -> int:
        """Recompute and store the insights of every member; returns how many members."""
        now = utc_now()
        since = iso(now - timedelta(days=WINDOW_DAYS))
        with self.engine.connect() as conn:
            catalogue = _catalogue(conn)
            sizes = {m: json.loads(s or "{}") for m, s in conn.execute(select(members.c.member_id, members.c.sizes))}
            stats = conn.execute(
                select(
                    transactions.c.member_id,
                    func.max(transactions.c.ts),
                    func.count(),
                    func.sum(transactions.c.amount_minor).filter(transactions.c.currency == self.currency),
                )
                .where(transactions.c.member_id.is_not(None), transactions.c.ts >= since)
                .group_by(transactions.c.member_id)
            ).all()
            bought = conn.execute(
                select(transactions.c.member_id, transaction_lines.c.sku, func.sum(transaction_lines.c.quantity))
                .join(transaction_lines, transaction_lines.c.txn_id == transactions.c.txn_id)
                .where(transactions.c.member_id.is_not(None))
                .group_by(transactions.c.member_id, transaction_lines.c.sku)
            ).all()
        scores = self._rfm(stats, now)
        recs = self._recommend(bought, sizes, catalogue)
        everyone = sorted(set(sizes) | set(scores) | set(recs))
        computed = iso(now)
        rows = []
        for member in everyone:
            days, f_count, spend, r, f, m = scores.get(member, (None, 0, 0, 0, 0, 0))
            rows.append(
                {
                    "member_id": member,
                    "recency_days": days,
                    "frequency": f_count,
                    "monetary_minor": spend,
                    "r": r,
                    "f": f,
                    "m": m,
                    "segment": segment(r, f, m),
                    "recommendations": json.dumps(recs.get(member, [])),
                    "computed_at": computed,
                }
            )
        for start in range(0, len(rows), WRITE_BATCH):  # short transactions: cards are read meanwhile
            part = rows[start : start + WRITE_BATCH]
            with self.engine.begin() as conn:
                conn.execute(
                    delete(member_insights).where(member_insights.c.member_id.in_([r["member_id"] for r in part]))
                )
                conn.execute(insert(member_insights), part)
        with self.engine.begin() as conn:  # members erased or gone since the last rebuild
            conn.execute(delete(member_insights).where(member_insights.c.computed_at < computed))
        return len(rows)

    @staticmethod
    def _rfm(stats: list[Any], now: Any) -> dict[str, tuple[int, int, int, int, int, int]]:
        if not stats:
            return {}
        ids = [s[0] for s in stats]
        days = np.array([(now - parse_iso(s[1])).total_seconds() / 86400 for s in stats])
        count = np.array([s[2] for s in stats], np.float64)
        spend = np.array([s[3] or 0 for s in stats], np.float64)
        r, f, m = quintile_scores(days, higher_is_better=False), quintile_scores(count), quintile_scores(spend)
        return {
            member: (int(days[i]), int(count[i]), int(spend[i]), int(r[i]), int(f[i]), int(m[i]))
            for i, member in enumerate(ids)
        }

    @staticmethod
    def _recommend(
        bought: list[Any], sizes: dict[str, dict[str, str]], catalogue: Catalogue
    ) -> dict[str, list[dict[str, str]]]:
        from implicit.nearest_neighbours import CosineRecommender
        from implicit.utils import ParameterWarning

        member_ids = sorted({b[0] for b in bought} | set(sizes))
        skus = sorted({b[1] for b in bought} | set(catalogue.name))
        row_of = {m: i for i, m in enumerate(member_ids)}
        col_of = {s: j for j, s in enumerate(skus)}
        owned: dict[str, set[str]] = defaultdict(set)
        for member, sku, _ in bought:
            owned[member].add(sku)
        rows = np.array([row_of[b[0]] for b in bought], np.int32)
        cols = np.array([col_of[b[1]] for b in bought], np.int32)
        user_items = csr_matrix(
            (np.ones(len(bought), np.float32), (rows, cols)), shape=(len(member_ids), len(skus)), dtype=np.float32
        )
        out: dict[str, list[dict[str, str]]] = {}
        model: Any = None
        if len(bought):
            model = CosineRecommender(K=100)
            with warnings.catch_warnings():  # implicit 0.7.3 converts its own COO to CSR inside fit, and warns
                warnings.simplefilter("ignore", ParameterWarning)
                model.fit(user_items, show_progress=False)
        batch = 10_000
        for start in range(0, len(member_ids), batch):
            users = np.arange(start, min(start + batch, len(member_ids)))
            candidates = (
                model.recommend(
                    users, user_items[users], N=min(CANDIDATES, len(skus)), filter_already_liked_items=True
                )[0]
                if model is not None
                else np.zeros((len(users), 0), np.int64)
            )
            for k, u in enumerate(users):
                member = member_ids[u]
                out[member] = _pick(
                    member, candidates[k], skus, owned[member], sizes.get(member, {}), catalogue, model, col_of
                )
        return out


def _pick(
    member: str,
    candidates: NDArray[np.int64],
    skus: list[str],
    owned: set[str],
    sizes_on_file: dict[str, str],
    catalogue: Catalogue,
    model: Any,
    col_of: dict[str, int],
) -> list[dict[str, str]]:
    """Up to TOP recommendations for one member, each with its reason."""
    picked: list[dict[str, str]] = []
    owned_cols = np.array(sorted(col_of[s] for s in owned), np.int64)
    candidates = candidates[candidates >= 0]
    # one sparse slice per member: similarity of each owned item (rows) to each candidate (columns)
    similar = (
        model.similarity[owned_cols][:, candidates].toarray()
        if len(owned_cols) and len(candidates)
        else np.zeros((0, len(candidates)))
    )
    for k, j in enumerate(candidates):
        if len(picked) >= TOP:
            break
        sku = skus[int(j)]
        if sku in owned or fits(sku, sizes_on_file, catalogue) is None:
            continue
        if not len(similar) or similar[:, k].max() <= 0:
            continue
        because = skus[int(owned_cols[int(similar[:, k].argmax())])]
        picked.append(_rec(sku, catalogue, BOUGHT_WITH, product=catalogue.name.get(because, because)))
    for sku in catalogue.new:  # fill up with new arrivals in their size
        if len(picked) >= TOP:
            break
        size = fits(sku, sizes_on_file, catalogue)
        if sku in owned or size is None or any(p["sku"] == sku for p in picked):
            continue
        picked.append(_rec(sku, catalogue, NEW_IN_SIZE, size=size) if size else _rec(sku, catalogue, NEW_IN))
    return picked


# a recommendation's reason: a catalogued message and its values, so that the iPad says it in its reader's language
BOUGHT_WITH = N_("bought by customers who bought {product}")
NEW_IN_SIZE = N_("new in your size ({size})")
NEW_IN = N_("new in")


def _rec(sku: str, catalogue: Catalogue, message: str, **params: str) -> dict[str, Any]:
    return {
        "sku": sku,
        "name": catalogue.name.get(sku, sku),
        "category": catalogue.category.get(sku, ""),
        "reason": message.format(**params),
        "reason_message": message,
        "reason_params": params,
    }


class InsightsWorker(Periodic):
    """Rebuilds the insights in the background: at start, when poked (an import), and every ``every`` seconds.

    Args:
        builder: what rebuilds.
        every: seconds between two rebuilds without a poke.
    """

    def __init__(self, builder: InsightsBuilder, every: float) -> None:
        super().__init__("insights", every, first_now=True)
        self.builder = builder
        self.rebuilt = threading.Event()  # set after each rebuild (tests and the demo wait on it)

    def poke(self) -> None:
        """Rebuild soon (new data arrived)."""
        self.rebuilt.clear()
        super().poke()

    def tick(self) -> None:
        """One rebuild; a failed one keeps the last insights and is retried next time."""
        try:
            n = self.builder.rebuild()
            log.info("insights: value segments and recommendations of %d member(s) recomputed", n)
        except Exception as exc:  # any failure of a rebuild: the card keeps the last insights
            log.error("insights rebuild failed, retried later: %s: %s", exc.__class__.__name__, exc)
        finally:
            self.rebuilt.set()
