"""The canonical schema: the contract between every source and every analysis.

One place defines which tables exist, which columns each has, their logical
type, and which columns are required. Sources map their data onto these names
(``salesbench.core.dataset``); validation (``salesbench.core.validate``) turns the
definitions below into pandera schemas that run inside the engine.

Logical types
-------------
``id``        string identifier (ids are always strings, even when a source
              stores them as numbers)
``str``       free text or a category
``date``      calendar date (no time of day)
``timestamp`` date and time
``float``     floating point number (money is in the data's currency)
``int``       integer
``bool``      boolean

Only ``orders`` with ``customer_id``, ``order_date`` and ``revenue`` is required
for a data set to be usable: segmentation, churn and forecasting work on a bare
transaction export. Other tables and optional columns enable more analyses.

Conventions
-----------
* ``orders``: one row per order line. ``order_id`` is the order number and may
  repeat across the lines of one order; ``line_no`` numbers the lines. Revenue
  is net of discount: ``revenue = quantity * unit_price`` where
  ``unit_price = list price * (1 - discount)``.
* ``opportunities.stage`` is the current stage: a funnel stage while the deal is
  open, ``won`` or ``lost`` once closed. ``status`` is ``open``/``won``/``lost``.
* ``stage_history`` has one row per stage entered, including a final ``won``
  or ``lost`` row for closed deals. Deals may skip stages or re-enter one.
* ``targets``: ``period`` is the first day of the month, ``level`` one of
  company/region/team/rep, ``key`` the region/team/rep id (``company`` for the
  company level), ``metric`` e.g. ``revenue``.

Rows the analyses never see
---------------------------
:meth:`salesbench.core.dataset.Dataset.table` leaves out (and states, see
:meth:`~salesbench.core.dataset.Dataset.exclusions`) rows holding a number that is not
finite or whose magnitude reaches :data:`MAX_ABS_NUMBER`; rows whose required
date, timestamp or number is empty, unparsable or outside
[:data:`DATE_MIN`, :data:`DATE_MAX`]; rows of an event table dated after today
(``Table.event_date``; plans and due dates may lie in the future); and exact
copies of a row in a table with a key. Rows of a ``unique_key`` table that share
a key with different values stop the run (:class:`salesbench.core.dataset.DuplicateKeys`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date as _date

#: Funnel stages in order (the default; stage names are configurable per analysis).
STAGES: tuple[str, ...] = (
    "lead",
    "contact",
    "needs_confirmed",
    "proposal",
    "negotiation",
    "contract",
    "won",
)
CLOSED_STAGES: tuple[str, ...] = ("won", "lost")

#: Plausible dates. A date or timestamp outside [DATE_MIN, DATE_MAX] (``0001-01-01``,
#: ``9999-12-31``, ``infinity``, year 5881580) is treated like text that does not parse:
#: it becomes empty in the canonical table and validation counts it as unparsable.
DATE_MIN = _date(1900, 1, 1)
DATE_MAX = _date(2200, 12, 31)
#: Numbers whose magnitude reaches this are not believable money, quantities or scores
#: (``1e300``): rows holding one are left out like NaN and infinity.
MAX_ABS_NUMBER = 1e15

LOGICAL_TYPES = ("id", "str", "date", "timestamp", "float", "int", "bool")


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    required: bool = False
    nullable: bool = True
    description: str = ""


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[Column, ...]
    key: tuple[str, ...] = ()
    description: str = ""
    required: bool = False
    enables: tuple[str, ...] = field(default=())
    #: the date of the event a row records; rows dated after today are left out by
    #: :meth:`salesbench.core.dataset.Dataset.table` (plans such as ``targets`` have none)
    event_date: str | None = None
    #: the key must be unique: analyses join other tables onto it, so rows that
    #: share a key with different values stop a run (:class:`salesbench.core.dataset.DuplicateKeys`);
    #: exact copies of a row are dropped in every table that has a key
    unique_key: bool = False

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def required_columns(self) -> list[str]:
        return [c.name for c in self.columns if c.required]

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(f"table {self.name!r} has no canonical column {name!r}")


def _c(name, type_, required=False, nullable=None, description=""):
    if nullable is None:
        nullable = not required
    return Column(name, type_, required, nullable, description)


TABLES: dict[str, Table] = {
    t.name: t
    for t in [
        Table(
            "orders",
            (
                _c("order_id", "id", description="order number (repeats across lines of one order)"),
                _c("line_no", "int", description="line number within the order"),
                _c("order_date", "date", required=True),
                _c("customer_id", "id", required=True),
                _c("product_id", "id"),
                _c("quantity", "float"),
                _c("unit_price", "float", description="net price per unit after discount"),
                _c("discount", "float", description="fraction of list price given away, 0-1"),
                _c("revenue", "float", required=True, description="net revenue of the line"),
                _c("cost", "float", description="cost of goods of the line"),
                _c("rep_id", "id"),
                _c("channel", "str"),
                _c("promo", "bool"),
            ),
            key=("order_id", "line_no"),
            description="one row per order line (the only required table)",
            required=True,
            enables=("segmentation", "churn", "forecasting", "performance"),
            event_date="order_date",
        ),
        Table(
            "customers",
            (
                _c("customer_id", "id", required=True),
                _c("name", "str"),
                _c("region", "str"),
                _c("channel", "str"),
                _c("industry", "str"),
                _c("tier", "str"),
                _c("signup_date", "date"),
                _c("owner_rep_id", "id"),
            ),
            key=("customer_id",),
            enables=("segmentation", "churn", "performance"),
            unique_key=True,
        ),
        Table(
            "products",
            (
                _c("product_id", "id", required=True),
                _c("product_line", "str", required=True),
                _c("list_price", "float"),
                _c("unit_cost", "float"),
                _c("launch_date", "date"),
            ),
            key=("product_id",),
            enables=("forecasting", "performance"),
            unique_key=True,
        ),
        Table(
            "reps",
            (
                _c("rep_id", "id", required=True),
                _c("name", "str"),
                _c("team", "str", required=True),
                _c("region", "str", required=True),
                _c("manager_id", "id"),
                _c("hire_date", "date"),
            ),
            key=("rep_id",),
            enables=("performance", "funnel"),
            unique_key=True,
        ),
        Table(
            "opportunities",
            (
                _c("opportunity_id", "id", required=True),
                _c("customer_id", "id"),
                _c("rep_id", "id"),
                _c("created_at", "timestamp", required=True),
                _c("amount", "float"),
                _c("stage", "str", required=True),
                _c("status", "str", required=True, description="open / won / lost"),
                _c("closed_at", "timestamp"),
                _c("lost_reason", "str"),
                _c("channel", "str"),
            ),
            key=("opportunity_id",),
            enables=("funnel", "performance"),
            unique_key=True,
        ),
        Table(
            "stage_history",
            (
                _c("opportunity_id", "id", required=True),
                _c("stage", "str", required=True),
                _c("entered_at", "timestamp", required=True),
            ),
            key=("opportunity_id", "stage", "entered_at"),
            enables=("funnel",),
            event_date="entered_at",
        ),
        Table(
            "invoices",
            (
                _c("invoice_id", "id", required=True),
                _c("customer_id", "id", required=True),
                _c("rep_id", "id"),
                _c("invoice_date", "date", required=True),
                _c("due_date", "date", required=True),
                _c("amount", "float", required=True),
                _c("paid_amount", "float"),
                _c("paid_date", "date"),
            ),
            key=("invoice_id",),
            enables=("performance", "churn"),
            event_date="invoice_date",
            unique_key=True,
        ),
        Table(
            "surveys",
            (
                _c("customer_id", "id", required=True),
                _c("survey_date", "date", required=True),
                _c("csat", "float", description="1-5"),
                _c("nps", "float", description="0-10"),
                _c("rep_id", "id"),
            ),
            enables=("performance", "churn"),
            event_date="survey_date",
        ),
        Table(
            "interactions",
            (
                _c("customer_id", "id", required=True),
                _c("rep_id", "id"),
                _c("occurred_at", "timestamp", required=True),
                _c("kind", "str", required=True, description="visit / call / email / complaint"),
            ),
            enables=("performance", "churn", "segmentation"),
            event_date="occurred_at",
        ),
        Table(
            "expenses",
            (
                _c("expense_id", "id"),
                _c("rep_id", "id", required=True),
                _c("expense_date", "date", required=True),
                _c("amount", "float", required=True),
                _c("category", "str"),
            ),
            key=("expense_id",),
            description="sales expenses per rep (travel, entertainment, allowances)",
            enables=("performance",),
            unique_key=True,
        ),
        Table(
            "targets",
            (
                _c("period", "date", required=True, description="first day of the month"),
                _c("level", "str", required=True, description="company / region / team / rep"),
                _c("key", "str", required=True),
                _c("metric", "str", required=True),
                _c("value", "float", required=True),
            ),
            key=("period", "level", "key", "metric"),
            enables=("performance", "forecasting", "funnel"),
            unique_key=True,
        ),
    ]
}

TABLE_NAMES: tuple[str, ...] = tuple(TABLES)


def table(name: str) -> Table:
    try:
        return TABLES[name]
    except KeyError:
        raise KeyError(
            f"{name!r} is not a canonical table; known tables: {', '.join(TABLE_NAMES)}"
        ) from None
