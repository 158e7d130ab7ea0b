"""Hand-made tiny companies for the robustness tests (1 customer, 1 order, 1 rep, 1 deal ...).

:func:`company` returns canonical frames (every table the reports can use) for a
company as small as asked; :func:`write` saves them as CSV files into a folder
``salesbench run --data`` reads. Text columns can be filled with hostile text
(``text=...``) to check that data text reaches figures and HTML literally.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd


def company(customers: int = 1, orders: int = 1, months: int = 1, reps: int = 1, opportunities: int = 1,
            lost_only: bool = False, text: str | None = None, start: str = "2024-01-03",
            revenue: float = 100.0, regions: int = 1, teams: bool = True,
            open_deals: bool = False) -> dict[str, pd.DataFrame]:
    """Frames of a tiny company.

    ``orders`` orders per customer, spread evenly over ``months`` calendar months from
    ``start``; ``opportunities`` deals (every second one won unless ``lost_only``);
    ``text`` replaces every name, region, team, segment, product line, channel and
    lost reason with that string and prefixes the rep ids (plus a number where several values must differ);
    ``regions`` distinct regions; ``teams=False`` leaves the reps' team empty;
    ``open_deals=True`` leaves every deal open at its last stage.
    """
    t0 = pd.Timestamp(start)

    def label(kind: str, i: int) -> str:
        base = text if text is not None else kind
        return base if i == 0 else f"{base} {i + 1}"

    rep_ids = [f"R{i + 1}" if text is None else f"{text} R{i + 1}" for i in range(reps)]
    region_of = [label("North", i % regions) for i in range(max(reps, customers))]
    rep_frame = pd.DataFrame({
        "rep_id": rep_ids, "name": [label("Rep", i) for i in range(reps)],
        "team": [label("Team", 0) if teams else None for _ in range(reps)],
        "region": region_of[:reps], "manager_id": "M1", "hire_date": pd.Timestamp("2020-01-01").date(),
    })
    cust_ids = [f"C{i + 1}" for i in range(customers)]
    cust = pd.DataFrame({
        "customer_id": cust_ids, "name": [label("Customer", i) for i in range(customers)],
        "region": region_of[:customers], "channel": label("direct", 0), "industry": label("retail", 0),
        "tier": label("A", 0), "signup_date": (t0 - pd.Timedelta(days=400)).date(),
        "owner_rep_id": [rep_ids[i % reps] for i in range(customers)],
    })
    products = pd.DataFrame({"product_id": ["P1"], "product_line": [label("Hardware", 0)], "list_price": [50.0],
                             "unit_cost": [30.0], "launch_date": [pd.Timestamp("2018-01-01").date()]})
    span_days = max(months, 1) * 30 - 1
    rows = []
    for ci, c in enumerate(cust_ids):
        for k in range(orders):
            day = t0 + pd.Timedelta(days=round(k * span_days / max(orders - 1, 1)) if orders > 1 else 0)
            rows.append({
                "order_id": f"O{ci + 1}-{k + 1}", "line_no": 1, "order_date": day.date(), "customer_id": c,
                "product_id": "P1", "quantity": 2.0, "unit_price": revenue / 2, "discount": 0.1, "revenue": revenue,
                "cost": 0.6 * revenue, "rep_id": rep_ids[ci % reps], "channel": label("direct", 0), "promo": False,
            })
    orders_f = pd.DataFrame(rows)
    inv = pd.DataFrame({
        "invoice_id": [f"I{i + 1}" for i in range(len(orders_f))], "customer_id": orders_f["customer_id"],
        "rep_id": orders_f["rep_id"], "invoice_date": orders_f["order_date"],
        "due_date": [(pd.Timestamp(d) + pd.Timedelta(days=30)).date() for d in orders_f["order_date"]],
        "amount": orders_f["revenue"], "paid_amount": orders_f["revenue"],
        "paid_date": [(pd.Timestamp(d) + pd.Timedelta(days=10)).date() for d in orders_f["order_date"]],
    })
    surveys = pd.DataFrame({"customer_id": cust_ids, "survey_date": t0.date(), "csat": 4.0, "nps": 8.0,
                            "rep_id": [rep_ids[i % reps] for i in range(customers)]})
    inter = pd.DataFrame({"customer_id": cust_ids, "rep_id": [rep_ids[i % reps] for i in range(customers)],
                          "occurred_at": t0 + pd.Timedelta(hours=9), "kind": "visit"})
    expenses = pd.DataFrame({"expense_id": [f"E{i + 1}" for i in range(reps)], "rep_id": rep_ids,
                             "expense_date": t0.date(), "category": "travel", "amount": 10.0})
    periods = pd.date_range(t0.to_period("M").to_timestamp(), periods=max(months, 1) + 2, freq="MS")
    tg = []
    for p in periods:
        for metric in ("revenue", "new_business"):
            tg.append({"period": p.date(), "level": "company", "key": "company", "metric": metric, "value": 1000.0})
            for r in rep_frame.itertuples():
                tg.append({"period": p.date(), "level": "rep", "key": r.rep_id, "metric": metric, "value": 500.0})
    targets = pd.DataFrame(tg)
    opp, hist = [], []
    stages = ["lead", "contact", "proposal"]
    for i in range(opportunities):
        created = t0 + pd.Timedelta(days=i, hours=10)
        won = (not lost_only) and i % 2 == 0
        closed = created + pd.Timedelta(days=20)
        status = "open" if open_deals else "won" if won else "lost"
        opp.append({"opportunity_id": f"D{i + 1}", "customer_id": cust_ids[i % customers], "rep_id": rep_ids[i % reps],
                    "created_at": created, "amount": 1000.0, "stage": stages[-1] if open_deals else status,
                    "status": status, "closed_at": pd.NaT if open_deals else closed,
                    "lost_reason": label("price", 0) if status == "lost" else None, "channel": label("direct", 0)})
        for j, s in enumerate(stages):
            hist.append({"opportunity_id": f"D{i + 1}", "stage": s, "entered_at": created + pd.Timedelta(days=5 * j)})
        if not open_deals:
            hist.append({"opportunity_id": f"D{i + 1}", "stage": status, "entered_at": closed})
    return {"customers": cust, "orders": orders_f, "products": products, "reps": rep_frame, "invoices": inv,
            "surveys": surveys, "interactions": inter, "expenses": expenses, "targets": targets,
            "opportunities": pd.DataFrame(opp), "stage_history": pd.DataFrame(hist)}


def write(folder: Path, frames: dict[str, pd.DataFrame]) -> Path:
    """Write ``frames`` as ``<table>.csv`` files into ``folder`` (created) and return it."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for name, frame in frames.items():
        frame.to_csv(folder / f"{name}.csv", index=False)
    return folder
