"""The findings report: Markdown and a standalone HTML page with figures, from the marts."""
from __future__ import annotations

import base64
import html
import io
from pathlib import Path

import numpy as np
import pandas as pd

from warehouse.store import Warehouse

#: figure -> panels of (technique, mode, feature, label); like the study's Figures 3a, 7a, 4, 5c-e
FIGURES = {
    "esm_vs_soc": ("ESM amplitude vs SOC (Fig. 3a)", [("afm", "ESM", "esm_all_mean", "whole image"),
                                                       ("afm", "ESM", "esm_particles_mean", "particles")]),
    "current_vs_soc": ("C-AFM current vs SOC (Fig. 7a)", [("afm", "CAFM", "current_all_mean", "whole image"),
                                                           ("afm", "CAFM", "current_particles_mean", "particles")]),
    "ni2_vs_soc": ("Ni2+ fraction vs SOC (Fig. 4)", [("nexafs", "TEY", "ni2_fraction", "TEY (surface)"),
                                                      ("nexafs", "FY", "ni2_fraction", "FY (bulk)")]),
    "lattice_vs_soc": ("Lattice and strain vs SOC, operando (Fig. 5c-e)", [("sxpd", None, "a", "a"),
                                                                          ("sxpd", None, "c", "c"),
                                                                          ("sxpd", None, "microstrain_00l", "strain 00l")]),
    "d_vs_soc": ("GITT diffusion coefficient vs SOC", [("echem", "GITT", "d", "D (relaxed pulses)")]),
}
MARKERS = {"cumulative": "o", "polished": "s", "operando": ".", "gitt": "^"}


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


def _select(profile: pd.DataFrame, tech: str, mode: str | None, feature: str) -> pd.DataFrame:
    sel = (profile.technique == tech) & (profile.feature == feature) & ~profile.interpolated.astype(bool)
    sel &= (profile["mode"] == mode) if mode else profile["mode"].isna()
    return profile[sel].sort_values("soc_pct")


def figure_feature_vs_soc(profile: pd.DataFrame, title: str, panels) -> str | None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    present = [p for p in panels if len(_select(profile, *p[:3]))]
    if not present:
        return None
    fig, axes = plt.subplots(1, len(present), figsize=(4.2 * len(present), 3.3), squeeze=False)
    for ax, (tech, mode, feature, label) in zip(axes[0], present):
        rows = _select(profile, tech, mode, feature)
        for (series, branch), g in rows.groupby(["series", "branch"], sort=True):
            err = np.vstack([g["mean"] - g["ci_low"], g["ci_high"] - g["mean"]]).clip(min=0)
            err = np.where(np.isfinite(err), err, 0)
            ax.errorbar(g["soc_pct"], g["mean"], yerr=err, marker=MARKERS.get(series, "o"), capsize=3,
                        linestyle="-" if series in ("operando", "gitt") else "none", label=f"{series} / {branch}")
        unit = rows["unit"].iloc[0]
        ax.set_xlabel("SOC (%)")
        ax.set_ylabel(f"{label} ({unit})")
        if feature == "d":
            ax.set_yscale("log")
        ax.legend(fontsize=7)
    fig.suptitle(title)
    return _png(fig)


def figure_correlation_matrix(corr: pd.DataFrame) -> str | None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    c = corr[(corr.series == "all") & (corr.branch == "pooled")]
    if c.empty:
        return None
    names = sorted(set(c.feature_x) | set(c.feature_y))
    m = pd.DataFrame(np.eye(len(names)), index=names, columns=names)
    for r in c.itertuples():
        m.loc[r.feature_x, r.feature_y] = m.loc[r.feature_y, r.feature_x] = r.pearson_r
    fig, ax = plt.subplots(figsize=(0.32 * len(names) + 3, 0.32 * len(names) + 2))
    im = ax.imshow(m.to_numpy(float), cmap="RdBu_r", vmin=-1, vmax=1)
    ax.set_xticks(range(len(names)), names, rotation=90, fontsize=6)
    ax.set_yticks(range(len(names)), names, fontsize=6)
    fig.colorbar(im, ax=ax, label="Pearson r across samples (all series, pooled branches)")
    return _png(fig)


def figure_esm_vs_ni2(profile: pd.DataFrame) -> str | None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    esm = profile[(profile.feature == "esm_particles_mean") & (profile.series == "polished")]
    fig, ax = plt.subplots(figsize=(4.5, 3.4))
    drawn = False
    for mode in ("TEY", "FY"):
        ni = profile[(profile.feature == "ni2_fraction") & (profile["mode"] == mode) & (profile.series == "polished")]
        both = esm.merge(ni, on="sample_id", suffixes=("_esm", "_ni"))
        if len(both):
            drawn = True
            ax.scatter(both["mean_ni"], both["mean_esm"], label=f"Ni2+ from {mode}")
            for r in both.itertuples():
                ax.annotate(f"{r.sample_id}{'*' if r.interpolated_ni else ''}", (r.mean_ni, r.mean_esm), fontsize=7)
    if not drawn:
        plt.close(fig)
        return None
    ax.set_xlabel("Ni2+ fraction of Ni (1)  (* interpolated along SOC)")
    ax.set_ylabel("ESM amplitude, particles (pm/V)")
    ax.legend(fontsize=7)
    ax.set_title("ESM vs Ni2+ across SOC (polished)")
    return _png(fig)


def render(profile: pd.DataFrame, corr: pd.DataFrame, findings: pd.DataFrame, campaign: str) -> tuple[str, str]:
    figures = [(t, figure_feature_vs_soc(profile, t, panels)) for t, panels in FIGURES.values()]
    figures += [("Correlation matrix", figure_correlation_matrix(corr)),
                ("ESM amplitude vs Ni2+ fraction", figure_esm_vs_ni2(profile))]
    per_claim = findings.groupby("claim")["verdict"].apply(lambda v: "pass" if (v == "pass").all() else "fail")
    md = [f"# Findings report — campaign `{campaign}`", "",
          f"{int((per_claim == 'pass').sum())} of {len(per_claim)} claims pass.", "",
          "| claim | check | verdict | statistic | expected | why |", "|---|---|---|---|---|---|"]
    for r in findings.sort_values(["claim", "check_name"]).itertuples():
        stat = "" if pd.isna(r.statistic) else f"{r.statistic:.4g}"
        md.append(f"| {r.claim} | {r.check_name} | **{r.verdict}** | {stat} ({r.statistic_name}) | {r.expected} | "
                  f"{r.why.replace('|', '/')} |")
    md += ["", "Figures are in the HTML version of this report. Every number traces back to its raw files: "
           "`socscope query --name lineage_of_profile_row --param profile_key=...`."]
    body = ["<h1>Findings report — campaign " + html.escape(campaign) + "</h1>",
            f"<p>{int((per_claim == 'pass').sum())} of {len(per_claim)} claims pass.</p>",
            "<table><tr><th>claim</th><th>check</th><th>verdict</th><th>statistic</th><th>expected</th><th>why</th></tr>"]
    for r in findings.sort_values(["claim", "check_name"]).itertuples():
        stat = "" if pd.isna(r.statistic) else f"{r.statistic:.4g}"
        body.append(f"<tr class='{r.verdict}'><td>{r.claim}</td><td>{html.escape(r.check_name)}</td>"
                    f"<td>{r.verdict}</td><td>{stat}</td><td>{html.escape(r.expected)}</td>"
                    f"<td>{html.escape(r.why)}</td></tr>")
    body.append("</table>")
    for title, png in figures:
        if png:
            body.append(f"<h2>{html.escape(title)}</h2><img alt='{html.escape(title)}' src='data:image/png;base64,{png}'/>")
    style = ("body{font-family:sans-serif;max-width:1200px;margin:auto}table{border-collapse:collapse;font-size:13px}"
             "td,th{border:1px solid #ccc;padding:3px 6px}tr.pass td:nth-child(3){color:#070}"
             "tr.fail td:nth-child(3){color:#b00;font-weight:bold}img{max-width:100%}")
    page = (f"<!doctype html><html><head><meta charset='utf-8'><title>socscope findings — {html.escape(campaign)}"
            f"</title><style>{style}</style></head><body>{''.join(body)}</body></html>")
    return "\n".join(md) + "\n", page


def write(campaign, wh: Warehouse, params_id: str, report_dir: Path | None = None) -> Path:
    profile = wh.query("select * from soc_profile where params_id = ?", [params_id])
    corr = wh.query("select * from correlations where params_id = ?", [params_id])
    findings = wh.query("select * from findings where params_id = ?", [params_id])
    md, page = render(profile, corr, findings, campaign.name)
    if report_dir is None:
        report_dir = Path(wh.root) / "reports" if wh.is_local else Path("reports")
    report_dir.mkdir(parents=True, exist_ok=True)
    (report_dir / "findings.md").write_text(md, encoding="utf-8")
    (report_dir / "findings.html").write_text(page, encoding="utf-8")
    return report_dir / "findings.html"
