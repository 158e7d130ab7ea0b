"""The bad-input corpus: one declarative record per case.

Expectations are written from the promises in ``docs/reliability.md`` (issue
#10's desired behaviour), not from what a given version happens to do: bad
input → exit 2 and one line naming the file/table/column/key (and the line or
rows); odd values → counted, excluded and said; nothing half-written; no
secret anywhere. ``python -m tests.corpus`` runs them and prints a table.
"""
from __future__ import annotations

import re
import signal

from . import faults
from .engine import FIXTURE_ENV, Case, Expect
from .inputs import (
    ORDER_COLUMNS, ORDERS, PRODUCT_COLUMNS, PRODUCTS, REP_COLUMNS, REPS, also,
    csv_text, customers, demo_copy, folder, orders, previous_run, write,
)

def R(pattern: str) -> re.Pattern[str]:
    """A case-insensitive regular expression for `says`/`files` expectations."""
    return re.compile(pattern, re.I)

PW = "Zx9-s3cret-PW"  # the secret of the secrets cases
DEAD_PG = "127.0.0.1:1"  # nothing listens on port 1: connection refused at once

CASES: list[Case] = []


def case(id, theme, build, argv=(), mode="inproc", **kw) -> Case:
    opts = {k: kw.pop(k) for k in ("env", "drive", "check", "needs", "timeout", "note") if k in kw}
    c = Case(id, theme, build, list(argv), Expect(**kw), mode=mode, **opts)
    CASES.append(c)
    return c


def validate(*extra):
    return ["validate", "--data", "{data}", *extra]


CLEAN = folder(orders_csv=orders(), customers_csv=customers())


# =========================================================================== schema
case("schema-no-orders-table", "schema", folder(customers_csv=customers()), validate(),
     exit=2, says=["'orders' is missing"])
case("schema-empty-folder", "schema", lambda ctx: None, validate(),
     exit=2, says=["no canonical table"])
case("schema-missing-revenue", "schema",
     folder(orders_csv=csv_text(["order_date", "customer_id"], [["2024-01-05", "c1"]])), validate(),
     exit=2, says=["orders.csv", "'revenue' is missing"])
case("schema-missing-customer-id", "schema",
     folder(orders_csv=csv_text(["order_date", "revenue"], [["2024-01-05", "10"]])), validate(),
     exit=2, says=["orders.csv", "'customer_id' is missing"])
case("schema-missing-order-date", "schema",
     folder(orders_csv=csv_text(["customer_id", "revenue"], [["c1", "10"]])), validate(),
     exit=2, says=["orders.csv", "'order_date' is missing"])
case("schema-header-only-orders", "schema", folder(orders_csv=csv_text(ORDER_COLUMNS, [])), validate(),
     exit=2, says=["orders", "no rows"], never=["empty in 0 rows"])
case("schema-zero-byte-orders", "schema", folder(orders_csv=""), validate(),
     exit=2, says=["orders.csv", R(r"empty|no rows|no header")])
case("schema-ragged-long-row", "schema",
     folder(orders_csv="customer_id,order_date,revenue\nc1,2024-01-05,10\nc2,2024-01-06,11\nc3,2024-01-07,12,EXTRA\n"
                       "c1,2024-01-08,13\n"),
     validate(), exit=2, says=["orders.csv", R(r"\bline 4\b")])
case("schema-ragged-short-row", "schema",
     folder(orders_csv="customer_id,order_date,revenue\nc1,2024-01-05,10\nc2,2024-01-06\nc3,2024-01-07,12\n"),
     validate(), exit=2, says=["orders.csv", R(r"\bline 3\b")])


def _int_dates(ctx):
    import pandas as pd

    pd.DataFrame({"customer_id": ["c1", "c2"], "order_date": [20240105, 20240106], "revenue": [1.0, 2.0]}) \
        .to_parquet(ctx["data"] / "orders.parquet", index=False)


case("schema-date-stored-as-number", "schema", _int_dates, validate(),
     exit=2, says=["orders.parquet", "order_date", "%Y%m%d"])
case("schema-revenue-not-a-number", "schema", folder(orders_csv=orders(rows={1: {"revenue": "lots"}})), validate(),
     exit=2, says=["orders.csv", "revenue", "'lots'", "row 2"])
case("schema-empty-customer-id", "schema", folder(orders_csv=orders(rows={2: {"customer_id": ""}})), validate(),
     exit=2, says=["orders.csv", "customer_id", "empty in 1 row", "row 3"])
case("schema-duplicate-order-lines", "schema",
     folder(orders_csv=orders(rows={6: {"order_id": "O2", "line_no": "1"}})), validate(),
     exit=0, says=["order_id and line_no", R(r"\b1 rows?\b")])
case("schema-duplicate-customer-ids", "schema",
     folder(orders_csv=orders(), customers_csv=customers(extra=[["c2", "Globex again", "East", "gold", "2024-01-01"]])),
     validate(), exit=2, says=["customers", "customer_id", "c2"])
case("schema-duplicate-product-ids", "schema",
     folder(orders_csv=orders(), products_csv=csv_text(PRODUCT_COLUMNS, PRODUCTS + [["p1", "Gizmos", "11.0"]])),
     validate(), exit=2, says=["products", "product_id", "p1"])
case("schema-duplicate-rep-ids", "schema",
     folder(orders_csv=orders(), reps_csv=csv_text(REP_COLUMNS, REPS + [["r2", "Bob B", "t2", "South", "2022-01-01"]])),
     validate(), exit=2, says=["reps", "rep_id", "r2"])
case("schema-utf8-bom-header", "schema", folder(orders_csv=b"\xef\xbb\xbf" + orders().encode()), validate(),
     exit=0, says=["No problem found"])
case("schema-semicolon-csv", "schema", folder(orders_csv=csv_text(ORDER_COLUMNS, ORDERS, delimiter=";")), validate(),
     exit=0, says=["No problem found"])
case("schema-latin1-csv", "schema",
     folder(orders_csv=orders().encode(),
            customers_csv=customers(rows={0: {"name": "Müller & Söhne"}}).encode("latin-1")),
     validate(), exit=2, says=["customers.csv", R(r"UTF-?8|encoding")])
case("schema-corrupt-parquet", "schema", folder(orders_parquet=b"PAR1 this is not parquet PAR1"), validate(),
     exit=2, says=["orders.parquet"])


def _duckdb_without_tables(ctx):
    import duckdb

    con = duckdb.connect(str(ctx["data"] / "sales.duckdb"))
    con.execute("CREATE TABLE sales_2024 AS SELECT 1 AS x")
    con.close()


case("schema-duckdb-no-canonical-table", "schema", _duckdb_without_tables, ["validate", "--data", "{data}/sales.duckdb"],
     exit=2, says=["sales.duckdb", "no canonical table", "sales_2024"])
case("schema-data-path-missing", "schema", lambda ctx: None, ["validate", "--data", "{data}/nowhere"],
     exit=2, says=["nowhere", "does not exist"])
case("schema-run-without-orders", "schema", folder(customers_csv=customers()), ["run", "--data", "{data}"],
     exit=0, published=True, reports={"*": "skipped"}, says=["no orders table"], no_kernel=True)

# =========================================================================== references
case("ref-orphan-customer", "references",
     folder(orders_csv=orders(rows={3: {"customer_id": "c9"}}), customers_csv=customers()), validate(),
     exit=0, says=["customer_id is not in customers", "'c9'"])
case("ref-orphan-product", "references",
     folder(orders_csv=orders(rows={1: {"product_id": "p404"}}), products_csv=csv_text(PRODUCT_COLUMNS, PRODUCTS)),
     validate(), exit=0)
case("ref-orphan-rep", "references",
     folder(orders_csv=orders(rows={1: {"rep_id": "r404"}}), reps_csv=csv_text(REP_COLUMNS, REPS)), validate(), exit=0)


def _orphan_history(frames):
    sh = frames["stage_history"]
    sh.loc[sh.index[:3], "opportunity_id"] = "OPP-GHOST"


case("ref-orphan-stage-history", "references", demo_copy("orders", "opportunities", "stage_history", edit=_orphan_history),
     validate(), exit=0)


def _orphan_everything(frames):
    o = frames["orders"]
    o.loc[o.index[:4], "customer_id"] = "GHOST-CUSTOMER"
    o.loc[o.index[4:8], "product_id"] = "GHOST-PRODUCT"
    o.loc[o.index[8:12], "rep_id"] = "GHOST-REP"


case("ref-data-quality-report", "references",
     demo_copy("orders", "customers", "products", "reps", edit=_orphan_everything),
     ["run", "data_quality", "--data", "{data}", "--out", "{out}"], mode="subprocess",
     exit=0, published=True, reports={"data_quality": "ok"},
     files=[("data_quality.html", "not in customers"), ("data_quality.html", "GHOST-CUSTOMER")])

# =========================================================================== odd values
NONFINITE = folder(orders_csv=orders(rows={1: {"revenue": "NaN"}, 3: {"revenue": "inf"}, 4: {"revenue": "-inf"}}))
case("odd-nonfinite-revenue-validate", "odd values", NONFINITE, validate(),
     exit=0, says=["revenue", R(r"\b3 rows\b"), R(r"non-?finite|not finite|infinit|NaN")], never=["empty in 0 rows"])
case("odd-huge-revenue-validate", "odd values", folder(orders_csv=orders(rows={2: {"revenue": "1e300"}})), validate(),
     exit=0)
case("odd-negative-and-zero-revenue", "odd values",
     folder(orders_csv=orders(rows={1: {"revenue": "-50"}, 2: {"revenue": "0"}})), validate(),
     exit=0, says=["zero or negative revenue", R(r"\b2 rows\b")])
case("odd-future-date-validate", "odd values", folder(orders_csv=orders(rows={5: {"order_date": "2100-01-01"}})),
     validate(), exit=0, says=["after the as-of date", "2100-01-01"])
for _id, _value in [("epoch", "epoch"), ("minus-infinity", "-infinity"), ("infinity", "infinity"),
                    ("garbage-suffix", "2024-01-05 garbage"), ("year-5881580", "5881580-01-01"),
                    ("day-first", "05/01/2024"), ("month-13", "2024-13-01")]:
    case(f"odd-date-{_id}", "odd values", folder(orders_csv=orders(rows={2: {"order_date": _value}})), validate(),
         exit=2, says=["orders.csv", "order_date", repr(_value), "row 3"])
case("odd-signup-date-garbage", "odd values", folder(orders_csv=orders(), customers_csv=customers(rows={1: {"signup_date": "soon"}})),
     validate(), exit=2, says=["customers.csv", "signup_date", "'soon'"])


def _timestamp_infinity(frames):
    o = frames["opportunities"]
    o["created_at"] = o["created_at"].astype(str)
    o.loc[o.index[0], "created_at"] = "-infinity"


case("odd-timestamp-minus-infinity", "odd values", demo_copy("orders", "opportunities", edit=_timestamp_infinity),
     validate(), exit=2, says=["opportunities", "created_at", "'-infinity'"])
case("odd-decimal-comma", "odd values", folder(orders_csv=orders(rows={0: {"revenue": "10,5"}})), validate(),
     exit=2, says=["revenue", "'10,5'"])
case("odd-csat-out-of-range", "odd values",
     folder(orders_csv=orders(), surveys_csv=csv_text(["customer_id", "survey_date", "csat", "nps"],
                                                      [["c1", "2024-03-01", "7", "9"], ["c2", "2024-03-02", "4", "8"]])),
     validate(), exit=0, says=["surveys.csv", "csat", "outside 1-5", R(r"\b1 rows?\b")])


def _unknown_stages(frames):
    sh = frames["stage_history"]
    rows = sh.index[sh.stage == "contact"]
    sh.loc[rows[:7], "stage"] = "Qualified"
    sh.loc[rows[7:10], "stage"] = "Demo Scheduled"


UNKNOWN_STAGES = demo_copy("orders", "customers", "opportunities", "stage_history", "targets", edit=_unknown_stages)
case("odd-unknown-stages-validate", "odd values", UNKNOWN_STAGES, validate(),
     exit=0, says=["stage_history", "Qualified", "Demo Scheduled", "stages"])
case("odd-unknown-stages-funnel", "odd values", UNKNOWN_STAGES,
     ["run", "funnel", "--data", "{data}", "--out", "{out}", "-p", "mcmc_draws=100", "-p", "mcmc_tune=100"],
     mode="subprocess", exit=0, published=True, reports={"funnel": "ok"},
     files=[("funnel.html", "Qualified"), ("funnel.html", "Demo Scheduled"), ("funnel.html", R(r"\bstages\b"))])


def _nonfinite_demo(frames):
    o = frames["orders"]
    o.loc[o.index[10], "revenue"] = float("nan")
    o.loc[o.index[20], "revenue"] = float("inf")
    o.loc[o.index[30], "revenue"] = float("-inf")
    o.loc[o.index[40], "revenue"] = 1e300


# NaN written to Parquet by pandas is stored as NULL: the report states each kind with its count
EXCLUDED = [R(r"\b2 orders rows (excluded|left out)[^.<]{0,40}revenue[^.<]{0,20}(non-?finite|not a finite)"),
            R(r"\b1 orders row (excluded|left out)[^.<]{0,40}revenue[^.<]{0,20}implausibl"),
            R(r"\b1 orders row (excluded|left out)[^.<]{0,40}revenue[^.<]{0,20}(empty|missing)")]
case("odd-nonfinite-revenue-segmentation", "odd values", demo_copy("orders", "customers", edit=_nonfinite_demo),
     ["run", "segmentation", "--data", "{data}", "--out", "{out}"], mode="subprocess",
     exit=0, published=True, reports={"segmentation": "ok"}, files=[("segmentation.html", p) for p in EXCLUDED])


def _future_order(frames):
    import pandas as pd

    o = frames["orders"]
    last = pd.Timestamp(o["order_date"].max())
    extra = o.iloc[[0]].copy()
    extra["order_date"] = pd.Timestamp("2100-01-01").date() if o["order_date"].dtype == object else pd.Timestamp("2100-01-01")
    frames["orders"] = pd.concat([o, extra], ignore_index=True)
    _FUTURE["last"] = last.date().isoformat()


_FUTURE: dict[str, str] = {}


def _as_of_is_last_real_date(ctx, outcome):
    import json

    path = ctx["out"] / "segmentation.results.json"
    if not path.exists():
        return ["no segmentation.results.json"]
    got = json.loads(path.read_text()).get("as_of")
    return [] if got == _FUTURE.get("last") else [f"as_of = {got}, expected the last real order date {_FUTURE.get('last')}"]


case("odd-future-date-segmentation", "odd values", demo_copy("orders", "customers", edit=_future_order),
     ["run", "segmentation", "--data", "{data}", "--out", "{out}"], mode="subprocess",
     exit=0, published=True, reports={"segmentation": "ok"}, files=[("segmentation.html", "2100-01-01")],
     check=_as_of_is_last_real_date)

# =========================================================================== hostile text
SCRIPT = "<script>alert('x')</script>"
HOSTILE_NAMES = [SCRIPT, "$x^$ Region", r"Price $\notacommand$", "back\\slash\\name", "=cmd|' /C calc'!A0",
                 "@SUM(1+1)*cmd|' /C calc'!A0", "عميل مهم 😀🚀", "N" * 5000, "line\nbreak \"quoted\""]
case("hostile-script-name-validate", "hostile text", folder(orders_csv=orders(), customers_csv=customers(rows={0: {"name": SCRIPT}})),
     validate(), exit=0, says=["HTML/script markup", "customers.csv"])
case("hostile-mathtext-validate", "hostile text",
     folder(orders_csv=orders(), customers_csv=customers(rows={0: {"name": r"Price $\notacommand$", "region": "$x^$ Region"}})),
     validate(), exit=0, says=["No problem found"])
case("hostile-long-name-validate", "hostile text",
     folder(orders_csv=orders(), customers_csv=customers(rows={0: {"name": "<b>" + "N" * 100_000}})), validate(),
     exit=0, says=["HTML/script markup"])
case("hostile-rtl-emoji-ids", "hostile text",
     folder(orders_csv=orders(rows={0: {"customer_id": "عميل-١"}, 2: {"customer_id": "😀-2"}}),
            customers_csv=customers(extra=[["عميل-١", "شركة", "North", "gold", "2024-01-01"],
                                           ["😀-2", "Emoji Ltd 🚀", "South", "gold", "2024-01-01"]])),
     validate(), exit=0, says=["No problem found"])
case("hostile-csv-injection-validate", "hostile text",
     folder(orders_csv=orders(rows={0: {"customer_id": "=cmd|' /C calc'!A0"}}),
            customers_csv=customers(extra=[["=cmd|' /C calc'!A0", "+SUM(A1)", "-1+1", "@x", "2024-01-01"]])),
     validate(), exit=0, says=["No problem found"])
case("hostile-quoted-newlines", "hostile text",
     folder(orders_csv=orders(), customers_csv=customers(rows={1: {"name": 'Multi\nline, "quoted" name'}})),
     validate(), exit=0, says=["No problem found"])
case("hostile-sql-in-ids", "hostile text",
     folder(orders_csv=orders(rows={0: {"customer_id": "'; DROP TABLE orders; --"}, 1: {"customer_id": 'x" OR "1"="1'}})),
     validate(), exit=0, says=["No problem found"])
case("hostile-sql-column-name", "hostile text",
     folder(orders_csv=csv_text(ORDER_COLUMNS + ['"; DROP TABLE orders; --'], [r + ["x"] for r in ORDERS])),
     validate(), exit=0, says=["No problem found"])


def _hostile_demo(frames):
    c = frames["customers"]
    for i, name in enumerate(HOSTILE_NAMES):
        c.loc[c.index[i], "name"] = name
    c.loc[c.index[::3], "region"] = "$x^$ Region"
    c.loc[c.index[1::7], "region"] = "Back\\slash $\\alpha"
    if "tier" in c:
        c.loc[c.index[::5], "tier"] = "<b>bold</b> $\\notacommand$"


case("hostile-text-segmentation", "hostile text", demo_copy("orders", "customers", edit=_hostile_demo),
     ["run", "segmentation", "--data", "{data}", "--out", "{out}"], mode="subprocess",
     exit=0, published=True, reports={"segmentation": "ok"},
     files_never=[("*.html", "<script>alert(")])
case("hostile-text-data-quality", "hostile text", demo_copy("orders", "customers", edit=_hostile_demo),
     ["run", "data_quality", "--data", "{data}", "--out", "{out}"], mode="subprocess",
     exit=0, published=True, reports={"data_quality": "ok"},
     files=[("data_quality.html", "&lt;script&gt;alert")], files_never=[("*.html", "<script>alert(")])


def _hostile_sweep(ctx):
    write(ctx, {"orders.csv": orders(), "sweep.yaml":
                "sweep:\n  - {seed: 1, _label: \"<script>alert('x')</script>\"}\n  - {seed: 2, _label: ../../escaped}\n"
                "  - {seed: 3, _label: \"$x^$ \\\\ label\"}\n"})


case("hostile-sweep-labels", "hostile text", _hostile_sweep,
     ["run", "funnel", "--data", "{data}", "-f", "{data}/sweep.yaml", "--out", "{out}"],
     exit=0, published=True, reports={"funnel": "skipped"}, files_never=[("index.html", "<script>alert(")],
     files=[("index.html", "&lt;script&gt;")])

# =========================================================================== secrets
case("secret-url-password-run", "secrets", CLEAN,
     ["run", "data_quality", "--data", f"postgres://ann:{PW}@{DEAD_PG}/sales"],
     exit=2, says=["cannot connect", "127.0.0.1"], secret=PW, published=False, no_kernel=True)
case("secret-url-query-password", "secrets", CLEAN,
     ["run", "data_quality", "--data", f"postgresql://ann@{DEAD_PG}/sales?password={PW}&sslmode=disable"],
     exit=2, says=["cannot connect"], secret=PW, published=False, no_kernel=True)
case("secret-pgpassword-env", "secrets", CLEAN, ["run", "data_quality", "--data", f"postgres://ann@{DEAD_PG}/sales"],
     env={"PGPASSWORD": PW}, exit=2, says=["cannot connect"], secret=PW, published=False, no_kernel=True)
case("secret-validate-url", "secrets", CLEAN, ["validate", "--data", f"postgres://ann:{PW}@{DEAD_PG}/sales"],
     exit=2, says=["cannot connect"], secret=PW)
case("secret-params-file", "secrets", folder(p_yaml=f"data: postgres://ann:{PW}@{DEAD_PG}/sales\n"),
     ["run", "data_quality", "-f", "{data}/p.yaml"], exit=2, says=["cannot connect", "p.yaml"], secret=PW,
     published=False, no_kernel=True)
case("secret-p-override", "secrets", CLEAN, ["run", "data_quality", "-p", f"data=postgres://ann:{PW}@{DEAD_PG}/sales"],
     exit=2, says=["cannot connect"], secret=PW, published=False, no_kernel=True)
case("secret-with-param-error", "secrets", CLEAN,
     ["run", "data_quality", "--data", f"postgres://ann:{PW}@{DEAD_PG}/sales", "-p", "as_of=someday"],
     exit=2, says=["as_of"], secret=PW, published=False, no_kernel=True)
case("secret-url-encoded-password", "secrets", CLEAN,
     ["run", "data_quality", "--data", f"postgres://ann:{PW}%40%2F@{DEAD_PG}/sales"],
     exit=2, says=["cannot connect"], never=[PW + "@/", PW + "%40%2F"], secret=PW, published=False, no_kernel=True)
case("secret-spec-file-url", "secrets",
     folder(spec_yaml=f"tables:\n  orders:\n    file: postgres://ann:{PW}@db.example.com/export.csv\n"),
     ["validate", "--data", "{data}/spec.yaml"], exit=2, says=["spec.yaml"], secret=PW)
case("secret-spec-name-run", "secrets",
     folder(orders_csv=orders(), spec_yaml=f"name: nightly export from postgres://ann:{PW}@db.example.com/sales\n"
                                           "tables:\n  orders:\n    file: orders.csv\n    header: true\n"),
     ["run", "data_quality", "--data", "{data}/spec.yaml", "--out", "{out}"], mode="subprocess",
     exit=0, published=True, reports={"data_quality": "ok"}, secret=PW)

# =========================================================================== parameters
RUN_DQ = ["run", "data_quality", "--data", "{data}", "--out", "{out}"]
ORDERS_ONLY = folder(orders_csv=orders())


def params_case(id, argv, says, build=ORDERS_ONLY, **kw):
    kw.setdefault("exit", 2)
    case(id, "parameters", build, argv, says=says, published=False, no_kernel=True, **kw)


params_case("param-unknown-key", [*RUN_DQ, "-p", "as_off=2024-01-01"],
            ["unknown parameter 'as_off'", "did you mean 'as_of'"])
params_case("param-wrong-type", [*RUN_DQ, "-p", "strict=maybe"], ["'strict'", "-p"])
params_case("param-bad-date", [*RUN_DQ, "-p", "as_of=2024-02-30"], ["'as_of'", "YYYY-MM-DD"])
params_case("param-yaml-1e-3", ["run", "segmentation", "--data", "{data}", "-f", "{data}/p.yaml", "--out", "{out}"],
            ["p.yaml", "'k_min'", "1e-3"], build=also(ORDERS_ONLY, folder(p_yaml="k_min: 1e-3\n")))
params_case("param-yaml-yes", ["run", "churn", "--data", "{data}", "-f", "{data}/p.yaml", "--out", "{out}"],
            ["p.yaml", "'segment_by'", "quote"], build=also(ORDERS_ONLY, folder(p_yaml="segment_by: yes\n")))
params_case("param-yaml-norway", ["run", "performance", "--data", "{data}", "-f", "{data}/p.yaml", "--out", "{out}"],
            ["p.yaml", "'region'", "quote"], build=also(ORDERS_ONLY, folder(p_yaml="region: NO\n")))
params_case("param-file-not-utf8", [*RUN_DQ, "-f", "{data}/p.yaml"], ["p.yaml", R(r"UTF-?8|encoding")],
            build=also(ORDERS_ONLY, folder(p_yaml="# Paramètres trimestriels\nstrict: true\n".encode("latin-1"))))
params_case("param-file-is-directory", [*RUN_DQ, "-f", "{data}/params.yaml"], ["params.yaml", R(r"director|folder")],
            build=also(ORDERS_ONLY, lambda ctx: (ctx["data"] / "params.yaml").mkdir()))
params_case("param-file-missing", [*RUN_DQ, "-f", "{data}/nope.yaml"],
            ["nope.yaml", R(r"does not exist|not found|no such file")])
params_case("param-p-without-equals", [*RUN_DQ, "-p", "as_of"], ["-p", "as_of", "KEY=VALUE"])
params_case("param-p-bad-yaml", ["run", "segmentation", "--data", "{data}", "--out", "{out}", "-p", "tier_cuts=[0.5,"],
            ["tier_cuts"])
params_case("param-rfm-cells-uncovered",
            ["run", "segmentation", "--data", "{data}", "--out", "{out}", "-p", "rfm_segments={Champions: {r: [5, 5], f: [4, 5]}}"],
            ["rfm_segments", R(r"cover")])
params_case("param-tier-names-vs-cuts",
            ["run", "segmentation", "--data", "{data}", "--out", "{out}", "-p", "tier_names=[big, small]"],
            ["tier_names", "tier_cuts"])
params_case("param-unknown-notebook", ["run", "segmentaton", "--data", "{data}", "--out", "{out}"],
            ["unknown notebook 'segmentaton'", "did you mean 'segmentation'"])
params_case("param-weights-not-summing-to-1",
            ["run", "performance", "--data", "{data}", "--out", "{out}", "-p", "weights={revenue: 0.5, csat: 0.2}"],
            ["weights"], build=folder(orders_csv=orders(), reps_csv=csv_text(REP_COLUMNS, REPS)))
params_case("param-jobs-zero", [*RUN_DQ, "--jobs", "0"], ["--jobs"])
params_case("param-timeout-negative", [*RUN_DQ, "--timeout", "-5"], ["--timeout"])
params_case("param-sweep-not-a-list", [*RUN_DQ, "-f", "{data}/p.yaml"], ["p.yaml", "sweep"],
            build=also(ORDERS_ONLY, folder(p_yaml="sweep: every region\n")))
params_case("param-unknown-notebook-section", [*RUN_DQ, "-f", "{data}/p.yaml"], ["p.yaml", "forcasting"],
            build=also(ORDERS_ONLY, folder(p_yaml="notebooks:\n  forcasting: {horizon: 6}\n")))
params_case("param-file-not-a-mapping", [*RUN_DQ, "-f", "{data}/p.yaml"], ["p.yaml"],
            build=also(ORDERS_ONLY, folder(p_yaml="- strict\n- true\n")))
params_case("param-file-invalid-yaml", [*RUN_DQ, "-f", "{data}/p.yaml"], ["p.yaml"],
            build=also(ORDERS_ONLY, folder(p_yaml="as_of: [2024-01-01\nstrict: true\n")))
params_case("param-data-is-a-csv-file", ["run", "data_quality", "--data", "{data}/orders.csv", "--out", "{out}"],
            ["orders.csv", "cannot open data source"])
params_case("param-unknown-option", [*RUN_DQ, "--colour", "red"], ["unrecognized arguments", "--colour"])
case("param-validate-bad-as-of", "parameters", ORDERS_ONLY, validate("--as-of", "2024-13-01"),
     exit=2, says=["--as-of", "2024-13-01"])

# =========================================================================== source specs
EXPORT = "Kunde,Tag,Betrag\nA-1,2024-01-05,10.5\nA-2,2024-02-01,20.0\nA-1,2024-03-09,7.25\n"
SPEC_OK = ("tables:\n  orders:\n    file: export.csv\n    header: true\n"
           "    map: {customer_id: Kunde, order_date: Tag, revenue: Betrag}\n")


def spec_case(id, spec, says, data=EXPORT, argv=None, exit=2, **kw):
    build = folder(export_csv=data, spec_yaml=spec) if spec is not None else folder(export_csv=data)
    case(id, "source specs", build, argv or ["validate", "--data", "{data}/spec.yaml"], exit=exit, says=says, **kw)


spec_case("spec-not-utf8", ("# Export für die Buchhaltung\n" + SPEC_OK).encode("latin-1"), ["spec.yaml", R(r"UTF-?8|encoding")])
case("spec-is-a-directory", "source specs", lambda ctx: (ctx["data"] / "spec.yaml").mkdir(),
     ["validate", "--data", "{data}/spec.yaml"], exit=2, says=["spec.yaml", R(r"director|folder")])
spec_case("spec-invalid-date-format", SPEC_OK.replace("order_date: Tag", "order_date: {from: Tag, format: '%Q-%d'}"),
          ["spec.yaml", "order_date", "format"])
spec_case("spec-wrong-delimiter",
          "tables:\n  orders:\n    file: export.csv\n    header: false\n    delimiter: ';'\n"
          "    columns: [Kunde, Tag, Betrag]\n    map: {customer_id: Kunde, order_date: Tag, revenue: Betrag}\n",
          ["spec.yaml", "export.csv", R(r"column|field|delimiter")], data=EXPORT.split("\n", 1)[1])


def _computed_spec(ctx):
    """A computed revenue column naming a field that does not exist (``unitz``).

    The key is taken from the spec format the package declares (``expr``/``expression``/``sql``/``compute`` in a
    map entry, or a table-level ``computed:`` mapping); ``expr`` when none is declared yet.
    """
    from salesbench.io import sourcespec

    data = "Kunde,Tag,units,price\nA-1,2024-01-05,2,5.25\nA-2,2024-02-01,1,20.0\n"
    table_keys = getattr(sourcespec, "TABLE_KEYS", set())
    map_keys = getattr(sourcespec, "MAP_KEYS", set())
    if "computed" in table_keys:
        body = ("    map: {customer_id: Kunde, order_date: Tag}\n"
                "    computed: {revenue: unitz * price}\n")
    else:
        key = next((k for k in ("expr", "expression", "sql", "compute") if k in map_keys), "expr")
        body = f"    map: {{customer_id: Kunde, order_date: Tag, revenue: {{{key}: 'unitz * price'}}}}\n"
    write(ctx, {"export.csv": data, "spec.yaml": "tables:\n  orders:\n    file: export.csv\n    header: true\n" + body})


case("spec-computed-unknown-name", "source specs", _computed_spec, ["validate", "--data", "{data}/spec.yaml"],
     exit=2, says=["spec.yaml", "unitz"])
spec_case("spec-data-file-missing", SPEC_OK.replace("export.csv", "nope.csv"), ["spec.yaml", "nope.csv"])
case("spec-file-missing", "source specs", lambda ctx: None, ["validate", "--data", "{data}/nope.yaml"],
     exit=2, says=["nope.yaml", "does not exist"])
spec_case("spec-invalid-yaml", "tables:\n  orders: [\n", ["spec.yaml", "not valid YAML"])
spec_case("spec-unknown-table", SPEC_OK.replace("  orders:", "  ordres:"), ["spec.yaml", "ordres"])
spec_case("spec-position-out-of-range", SPEC_OK.replace("customer_id: Kunde", "customer_id: 9"),
          ["spec.yaml", "customer_id"])
spec_case("spec-empty-file", "", ["spec.yaml"])
spec_case("spec-glob-matches-nothing", SPEC_OK.replace("file: export.csv", "files: exports/*.txt"),
          ["spec.yaml", "exports/*.txt"])
spec_case("spec-header-field-missing", SPEC_OK.replace("revenue: Betrag", "revenue: Umsatz"), ["spec.yaml", "Umsatz"])
spec_case("spec-run-bad-format", SPEC_OK.replace("order_date: Tag", "order_date: {from: Tag, format: '%Q-%d'}"),
          ["spec.yaml", "format"], argv=["run", "data_quality", "--data", "{data}/spec.yaml", "--out", "{out}"],
          published=False, no_kernel=True)
LATIN1_EXPORT = "Kunde,Tag,Betrag\nMüller,2024-01-05,10.5\nSöhne,2024-02-01,20.0\n".encode("latin-1")
case("spec-latin1-data-declared", "source specs",
     folder(export_csv=LATIN1_EXPORT, spec_yaml=SPEC_OK.replace("header: true", "header: true\n    encoding: latin-1")),
     ["validate", "--data", "{data}/spec.yaml"], exit=0, says=["No problem found"])
case("spec-latin1-data-undeclared", "source specs", folder(export_csv=LATIN1_EXPORT, spec_yaml=SPEC_OK),
     ["validate", "--data", "{data}/spec.yaml"], exit=2, says=["export.csv", R(r"UTF-?8|encoding")])

# =========================================================================== tiny data
TINY_OK = {"*": ("ok", "skipped")}
case("tiny-one-customer", "tiny data",
     folder(orders_csv=csv_text(["order_id", "customer_id", "order_date", "revenue"],
                                [[f"O{i}", "c1", f"2024-{i:02d}-10", str(10 + i)] for i in range(1, 13)])),
     ["run", "--data", "{data}", "--out", "{out}"], mode="subprocess", timeout=600,
     exit=0, published=True, reports=TINY_OK,
     files=[("segmentation.html", R(r"cluster[^.<]{0,120}(skipped|not|cannot|no )|(skipped|no )[^.<]{0,120}cluster"))])
case("tiny-one-order", "tiny data",
     folder(orders_csv=csv_text(["order_id", "customer_id", "order_date", "revenue"], [["O1", "c1", "2024-01-05", "10"]])),
     ["run", "--data", "{data}", "--out", "{out}"], mode="subprocess", timeout=600,
     exit=0, published=True, reports=TINY_OK)
case("tiny-two-months", "tiny data",
     folder(orders_csv=csv_text(["order_id", "customer_id", "order_date", "revenue"],
                                [[f"O{i}", f"c{i % 7}", f"2024-{1 + i % 2:02d}-{1 + i % 27:02d}", str(5 + 3 * i)]
                                 for i in range(30)])),
     ["run", "--data", "{data}", "--out", "{out}"], mode="subprocess", timeout=600,
     exit=0, published=True, reports=TINY_OK)

# =========================================================================== process faults
WITH_PREVIOUS = also(ORDERS_ONLY, lambda ctx: previous_run(ctx))
case("fault-kill9-midrun", "process faults", WITH_PREVIOUS, drive=faults.signal_midrun(signal.SIGKILL),
     exit=137, published=False, allow_hidden_leftovers=True, check=faults.no_orphans)
case("fault-sigint-midrun", "process faults", WITH_PREVIOUS, drive=faults.signal_midrun(signal.SIGINT),
     exit=130, says=["interrupted", "nothing published"], published=False, check=faults.no_orphans)
case("fault-sigterm-midrun", "process faults", WITH_PREVIOUS, drive=faults.signal_midrun(signal.SIGTERM),
     exit=143, says=["interrupted"], published=False, check=faults.no_orphans)


def _previous_out(ctx):
    write(ctx, {"orders.csv": orders()})
    ctx["out"].mkdir()
    (ctx["out"] / "index.html").write_text("previous run", encoding="utf-8")
    # what salesbench run writes: its signature and the files it wrote (docs/scheduling.md, "--out")
    (ctx["out"] / "manifest.json").write_text(
        '{"generator": "salesbench run", "run_files": ["index.html", "manifest.json"], "reports": []}', encoding="utf-8")


case("fault-sigint-out-kept", "process faults", _previous_out, drive=faults.signal_midrun(signal.SIGINT, out=True),
     exit=130, published=False, check=faults.no_orphans)
case("fault-concurrent-runs", "process faults", ORDERS_ONLY,
     drive=faults.concurrent(3, lambda ctx: ["run", "funnel", "--data", str(ctx["data"])]),
     exit=0, check=faults.distinct_complete_runs(3))
case("fault-readonly-out", "process faults",
     also(ORDERS_ONLY, lambda ctx: faults.mount_tmpfs(ctx, ctx["sb"] / "ro", "64k", read_only=True)),
     ["run", "data_quality", "--data", "{data}", "--out", "{sb}/ro/out"], writable=("reports", "out", "ro"),
     exit=2, says=["ro/out", R(r"read-only|not writable|permission|cannot write|cannot create")], no_kernel=True,
     published=False)
case("fault-readonly-reports-folder", "process faults",
     also(ORDERS_ONLY, lambda ctx: faults.mount_tmpfs(ctx, ctx["reports"], "64k", read_only=True)),
     ["run", "data_quality", "--data", "{data}"],
     exit=2, says=["reports", R(r"read-only|not writable|permission|cannot write|cannot create")], no_kernel=True,
     published=False)
case("fault-out-is-the-data-folder", "process faults",
     also(folder(orders_csv=orders(), customers_csv=customers()), faults.record("inputs", "data")),
     ["run", "data_quality", "--data", "{data}", "--out", "{data}"], mode="subprocess",
     exit=(0, 2), writable=("reports", "out", "data"), check=faults.untouched("inputs"))


def _foreign_out(ctx):
    write(ctx, {"orders.csv": orders()})
    (ctx["out"] / "thesis").mkdir(parents=True)
    (ctx["out"] / "thesis" / "chapter1.md").write_text("# my only copy\n", encoding="utf-8")
    (ctx["out"] / "budget.xlsx").write_bytes(b"PK\x03\x04 not really a spreadsheet")
    faults.record("foreign", "out")(ctx)


case("fault-out-is-a-foreign-folder", "process faults", _foreign_out, RUN_DQ, mode="subprocess",
     exit=(0, 2), check=faults.untouched("foreign"))
case("fault-out-is-a-previous-run", "process faults", _previous_out,
     ["run", "funnel", "--data", "{data}", "--out", "{out}"],
     exit=0, published=True, reports={"funnel": "skipped"}, json=[("manifest.json", "summary.skipped", 1)])
case("fault-out-is-a-file", "process faults", also(ORDERS_ONLY, lambda ctx: ctx["out"].write_text("keep me")),
     RUN_DQ, exit=2, says=["not a folder"], published=False, no_kernel=True)
case("fault-disk-full", "process faults",
     also(folder(orders_csv=orders(), customers_csv=customers()), lambda ctx: faults.mount_tmpfs(ctx, ctx["reports"], "64k")),
     ["run", "data_quality", "--data", "{data}"], mode="subprocess", needs="mount",
     exit=(1, 2), says=[R(r"space|disk full")])
case("fault-cell-timeout-message", "process faults", ORDERS_ONLY,
     ["run", "slow", "-p", "seconds=30", "--data", "{data}", "--out", "{out}", "--timeout", "2"], mode="subprocess",
     env=FIXTURE_ENV, exit=1, published=True, reports={"slow": "failed"},
     says=[R(r"\bcell\b"), R(r"\b2(\.0)? ?(s|sec|seconds)\b")], never=["-------"])


def _stale_tmp(ctx):
    write(ctx, {"orders.csv": orders()})
    stale = ctx["reports"] / ".20200101-000000.sbtmp-4194000-abcdef"
    stale.mkdir(parents=True)
    (stale / "index.html").write_text("half-written", encoding="utf-8")


case("fault-stale-temp-folder-removed", "process faults", _stale_tmp, ["run", "funnel", "--data", "{data}"],
     exit=0, published=True, check=faults.gone("reports/.20200101-000000.sbtmp-4194000-abcdef"))


def _latest_real(ctx):
    write(ctx, {"orders.csv": orders()})
    (ctx["reports"] / "latest").mkdir(parents=True)
    (ctx["reports"] / "latest" / "index.html").write_text("my own page", encoding="utf-8")


case("fault-latest-is-a-real-folder", "process faults", _latest_real, ["run", "funnel", "--data", "{data}"],
     exit=0, says=["real folder"], check=faults.latest_real_folder_kept)


def by_id() -> dict[str, Case]:
    ids = [c.id for c in CASES]
    dupes = {i for i in ids if ids.count(i) > 1}
    if dupes:
        raise ValueError(f"duplicate corpus case ids: {sorted(dupes)}")
    return {c.id: c for c in CASES}


def run_one(args: tuple[str, str]):
    """``(case id, work folder) -> Result`` (a module-level function, for process pools)."""
    from pathlib import Path

    from .engine import run_case

    case_id, workdir = args
    return run_case(by_id()[case_id], Path(workdir))
