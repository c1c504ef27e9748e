"""Which columns of which technique tables are features, declared once in features.yaml.

Each declaration turns one column of one table into long-form rows
(sample_id, technique, mode, feature, unit, observation, value, raw_sha256, row SOC, row branch)
that the SOC profile aggregates. A feature's unit is read from the table contract, never restated.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from warehouse.catalog import table_spec

FEATURES_FILE = Path(__file__).with_name("features.yaml")


@dataclass(frozen=True)
class FeatureDecl:
    name: str
    technique: str
    table: str  # physical table; the current_ view of it is read
    column: str
    observation: str
    mode: str | None = None
    where: str | None = None
    #: 'sample' = the row belongs to its sample's SOC; 'row' = the row carries its own SOC (operando, GITT)
    soc: str = "sample"
    soc_column: str | None = None
    branch_column: str | None = None
    #: relation to read when it is not current_<table> (e.g. a view joining the SOC alignment)
    source: str | None = None

    @property
    def key(self) -> str:
        return f"{self.technique}:{self.mode or ''}:{self.name}"

    @property
    def unit(self) -> str:
        return table_spec(self.table).column(self.column).unit

    def sql(self, samples: list[str] | None = None) -> str:
        conds = [f'"{self.column}" IS NOT NULL', f'isfinite("{self.column}"::DOUBLE)']
        if self.mode:
            conds.append(f"mode = '{self.mode}'")
        if self.where:
            conds.append(f"({self.where})")
        if self.source:  # a view over a table: keep the active parameter set only
            conds.append("params_id IN (SELECT params_id FROM param_sets WHERE active)")
        if samples is not None:  # bound by the caller: con.execute(decl.sql(samples), [samples])
            conds.append("list_contains(?::VARCHAR[], sample_id)")
        soc = f'"{self.soc_column}"::DOUBLE' if self.soc == "row" else "NULL::DOUBLE"
        branch = f'"{self.branch_column}"::VARCHAR' if self.branch_column else "NULL::VARCHAR"
        mode = f"'{self.mode}'" if self.mode else "mode"
        return (f"SELECT sample_id, '{self.technique}' AS technique, {mode} AS mode, '{self.name}' AS feature, "
                f"'{self.unit}' AS unit, '{self.observation}' AS observation, \"{self.column}\"::DOUBLE AS value, "
                f"raw_sha256, {soc} AS row_soc_pct, {branch} AS row_branch "
                f'FROM "{self.relation}" WHERE ' + " AND ".join(conds))

    @property
    def relation(self) -> str:
        return self.source or f"current_{self.table}"


def load_features(path: Path = FEATURES_FILE) -> list[FeatureDecl]:
    from foundation.registry import available_techniques

    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    installed = set(available_techniques())
    decls = [FeatureDecl(**d) for d in raw["features"] if d["technique"] in installed]
    for d in decls:
        table_spec(d.table).column(d.column)  # fails loudly on a typo
    keys = [d.key for d in decls]
    dupes = {k for k in keys if keys.count(k) > 1}
    if dupes:
        raise ValueError(f"features.yaml declares {sorted(dupes)} twice")
    return decls
