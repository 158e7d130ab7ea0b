"""The demo company as a Chinese CRM/ERP export: GBK-encoded CSV files with Chinese headers.

``write_cn_export(folder, demo_dir, seed=0)`` writes three files that look like
what a Chinese ERP or CRM system exports (GBK text, Chinese column names, dates
as ``2025/3/7``, Chinese region, industry and channel names) from the demo
company in ``demo_dir`` (the Parquet files :func:`salesbench.datasets.demo.ensure_demo`
or ``generate`` write; ``salesbench demo --format cn-gbk`` does both steps):

``orders.csv`` (订单明细, one row per order line)
    订单编号, 行号, 订单日期, 客户编号, 产品编号, 数量, 单价, 折扣, 销售额, 成本,
    渠道 (直销 / 经销商 / 线上 / 门店), 促销 (是 / 否), 销售代表编号
``customers.csv`` (客户档案, one row per customer *version*)
    客户编号, 客户名称, 区域 (华北 / 华南 / 华东 / 华西), 渠道, 行业, 客户等级, 注册日期,
    销售代表, 更新日期 — as CRM exports often do, a few customers appear twice: an
    older row (an earlier owner rep, an earlier 更新日期) before the current one
``reps.csv`` (销售人员)
    销售代表编号, 姓名, 团队 (华北一组 ...), 区域, 上级编号, 入职日期

``params/sources/example_cn_gbk.yaml`` maps these files onto the canonical tables
(its ``dedupe`` rule keeps each customer's latest row), so that source holds the
same orders, customers and reps as the demo company, with Chinese region and
industry names. Command line: ``salesbench demo --format cn-gbk --out DIR``.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

#: Demo value -> the export's Chinese value.
REGIONS_CN = {"North": "华北", "South": "华南", "East": "华东", "West": "华西"}
CHANNELS_CN = {"direct": "直销", "distributor": "经销商", "online": "线上", "store": "门店"}
INDUSTRIES_CN = {"manufacturing": "制造业", "retail": "零售", "healthcare": "医疗健康", "education": "教育",
                 "hospitality": "酒店餐饮", "public sector": "公共事业", "technology": "信息技术"}

#: Canonical column -> the export's header, per file (file order).
ORDERS_CN = {"order_id": "订单编号", "line_no": "行号", "order_date": "订单日期", "customer_id": "客户编号",
             "product_id": "产品编号", "quantity": "数量", "unit_price": "单价", "discount": "折扣",
             "revenue": "销售额", "cost": "成本", "channel": "渠道", "promo": "促销", "rep_id": "销售代表编号"}
CUSTOMERS_CN = {"customer_id": "客户编号", "name": "客户名称", "region": "区域", "channel": "渠道",
                "industry": "行业", "tier": "客户等级", "signup_date": "注册日期", "owner_rep_id": "销售代表"}
REPS_CN = {"rep_id": "销售代表编号", "name": "姓名", "team": "团队", "region": "区域", "manager_id": "上级编号",
           "hire_date": "入职日期"}
UPDATED = "更新日期"  # the CRM's last-change date of a customer row (the spec keeps the latest row)
#: Share of customers exported twice (an older row first, then the current one).
OLD_ROW_SHARE = 0.03

_CITIES = "北京 上海 广州 深圳 杭州 南京 成都 武汉 西安 天津 苏州 重庆 长沙 青岛 厦门 宁波".split()
_WORDS = "华盛 鼎新 恒达 远航 金桥 瑞丰 同创 中联 宏图 博远 嘉禾 天润 海纳 永泰 明德 卓越".split()
_KINDS = {"manufacturing": "机械制造", "retail": "商贸", "healthcare": "医疗器械", "education": "教育科技",
          "hospitality": "酒店管理", "public sector": "公共服务", "technology": "信息科技"}
_SURNAMES = "王 李 张 刘 陈 杨 黄 赵 吴 周 徐 孙 马 朱 胡 郭 何 林 罗 高".split()
_GIVEN = "伟 芳 娜 敏 静 强 磊 洋 艳 勇 军 杰 娟 涛 明 超 秀英 晓东 海燕 建华".split()
_TEAM_NO = "一二三四五六七八九"


def cn_date(values) -> pd.Series:
    """Dates as a Chinese export writes them: ``2025/3/7`` (no leading zeros; empty stays empty)."""
    d = pd.to_datetime(pd.Series(values), errors="coerce")
    text = d.dt.year.astype("Int64").astype(str) + "/" + d.dt.month.astype("Int64").astype(str) + "/" \
        + d.dt.day.astype("Int64").astype(str)
    return text.where(d.notna(), "")


def _company_names(ids: pd.Series, industries: pd.Series) -> list[str]:
    """A Chinese company name per customer, fixed by its number (``杭州华盛商贸有限公司``)."""
    out = []
    for cid, ind in zip(ids, industries):
        n = int("".join(ch for ch in str(cid) if ch.isdigit()) or 0)
        out.append(f"{_CITIES[n % len(_CITIES)]}{_WORDS[(n // len(_CITIES)) % len(_WORDS)]}"
                   f"{_KINDS.get(ind, '实业')}有限公司")
    return out


def _person_name(i: int) -> str:
    return _SURNAMES[i % len(_SURNAMES)] + _GIVEN[(i * 7) % len(_GIVEN)]


def _team_cn(team: str, region: str) -> str:
    """``North-1`` -> ``华北一组``."""
    no = team.rsplit("-", 1)[-1]
    return f"{REGIONS_CN.get(region, region)}{_TEAM_NO[int(no) - 1] if no.isdigit() and 0 < int(no) <= 9 else no}组"


def cn_frames(folder: str | os.PathLike, seed: int = 0) -> dict[str, pd.DataFrame]:
    """``{"orders", "customers", "reps"}``: the export's frames (Chinese headers and values) made from
    the demo company's Parquet files in ``folder``; ``seed`` fixes which customers get an older row."""
    folder = Path(folder)
    orders = pd.read_parquet(folder / "orders.parquet", columns=list(ORDERS_CN))
    customers = pd.read_parquet(folder / "customers.parquet", columns=list(CUSTOMERS_CN))
    reps = pd.read_parquet(folder / "reps.parquet", columns=list(REPS_CN))

    o = orders.copy()
    o["order_date"] = cn_date(o["order_date"])
    o["channel"] = o["channel"].map(CHANNELS_CN).fillna(o["channel"])
    o["promo"] = np.where(o["promo"].astype(bool), "是", "否")
    o = o.rename(columns=ORDERS_CN)

    c = customers.copy()
    c["name"] = _company_names(c["customer_id"], c["industry"])
    c["region"] = c["region"].map(REGIONS_CN).fillna(c["region"])
    c["channel"] = c["channel"].map(CHANNELS_CN).fillna(c["channel"])
    c["industry"] = c["industry"].map(INDUSTRIES_CN).fillna(c["industry"])
    signup = pd.to_datetime(c["signup_date"])
    c["signup_date"] = cn_date(signup)
    c[UPDATED] = cn_date(signup + pd.Timedelta(days=400))  # the current row: changed after signing up
    rng = np.random.default_rng([seed, 86])
    old = np.sort(rng.choice(len(c), size=max(1, int(round(OLD_ROW_SHARE * len(c)))), replace=False))
    stale = c.iloc[old].copy()
    rep_ids = reps["rep_id"].to_numpy()
    stale["owner_rep_id"] = [rep_ids[(np.flatnonzero(rep_ids == r)[0] + 1) % len(rep_ids)] if r in rep_ids else r
                             for r in stale["owner_rep_id"]]  # the previous owner: another rep
    stale[UPDATED] = cn_date(signup.iloc[old] + pd.Timedelta(days=30))
    c = pd.concat([stale, c], ignore_index=True)  # older rows first, as an append-only CRM log lists them
    c = c.rename(columns=CUSTOMERS_CN)

    r = reps.copy()
    r["name"] = [_person_name(i) for i in range(len(r))]
    r["team"] = [_team_cn(t, g) for t, g in zip(r["team"], r["region"])]
    r["region"] = r["region"].map(REGIONS_CN).fillna(r["region"])
    r["hire_date"] = cn_date(r["hire_date"])
    r = r.rename(columns=REPS_CN)
    return {"orders": o, "customers": c, "reps": r}


def write_cn_export(folder: str | os.PathLike, demo_dir: str | os.PathLike, seed: int = 0,
                    encoding: str = "gbk") -> Path:
    """Write the demo company in ``demo_dir`` as a GBK Chinese export into ``folder``; returns ``folder``.

    Files: ``orders.csv``, ``customers.csv``, ``reps.csv`` (see the module text), in
    ``encoding`` (``gbk`` by default; ``utf-8`` to compare); ``seed`` fixes which
    customers get an older row. Each file is written to a temporary name and renamed
    into place, so a failed run leaves no half-written file.
    """
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    frames = cn_frames(demo_dir, seed=seed)
    for name, frame in frames.items():
        target = out / f"{name}.csv"
        part = out / f".{name}.csv.{os.getpid()}.part"
        try:
            frame.to_csv(part, index=False, encoding=encoding, lineterminator="\r\n")  # Windows exports end lines so
            os.replace(part, target)
        finally:
            part.unlink(missing_ok=True)
    return out
