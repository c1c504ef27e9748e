"""Which columns of which technique tables are features: each technique declares its own in a YAML
file (``Technique.features``; the built-in ones are in warehouse/marts/features/<technique>.yaml).

Each declaration turns one column of one table into long-form rows
(sample_id, technique, mode, feature, unit, observation, value, raw_sha256, row SOC, row branch)
that the SOC profile aggregates. A feature's unit is read from the table contract, never restated.

The file holds ``features:``, a list with one entry per feature:
  name         feature name in the marts (the unit comes from the table contract)
  mode         filter on the mode column (ESM, CAFM, TEY, FY, GITT); absent: every mode
  table        physical table (its current_ view, i.e. the active parameter set, is read)
  column       the column;  observation: what one value is (map, particle, spectrum, pattern, pulse)
  where        extra SQL filter;  soc: sample (the sample's SOC, default) or row (own SOC in soc_column,
               branch in branch_column);  source: relation to read instead of current_<table>
  headline     true for the technique's telling features, shown first (dashboard SOC profiles)
The technique of every entry is the one that declares the file.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from foundation.yamlfile import safe_load
from warehouse.catalog import table_spec


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
    #: one of the technique's telling features, shown first where a page offers a choice of features
    headline: bool = False

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


def load_features() -> list[FeatureDecl]:
    """The features every registered technique declares, techniques in dependency order."""
    from foundation.registry import ordered_techniques, technique

    decls = []
    for name in ordered_techniques():
        path = technique(name).features
        if path is not None:
            decls += _read_declarations(Path(path), name)
    keys = [d.key for d in decls]
    dupes = {k for k in keys if keys.count(k) > 1}
    if dupes:
        raise ValueError(f"features {sorted(dupes)} are declared twice (technique:mode:name); rename one")
    return decls


def _read_declarations(path: Path, technique_name: str) -> list[FeatureDecl]:
    raw = safe_load(path.read_text(encoding="utf-8"))
    try:
        decls = [FeatureDecl(technique=technique_name, **entry) for entry in raw["features"]]
    except (TypeError, KeyError) as exc:
        raise ValueError(f"{path} (features of technique {technique_name!r}): {exc}; each entry of "
                         "'features:' takes the keys listed in warehouse/marts/features.py") from None
    for d in decls:
        try:
            table_spec(d.table).column(d.column)
        except KeyError as exc:  # a typo fails here, not as an empty profile
            raise ValueError(f"{path}: feature {d.name!r} of technique {technique_name!r}: {exc.args[0]}") from None
    return decls
