"""The built-in demo campaign: vendor files on a local "share", ground truth beside it."""
from __future__ import annotations

from importlib import resources
from pathlib import Path

import yaml

from foundation.campaign import Campaign
from foundation.config import load_campaign
from foundation.contract import DemoRequest
from foundation.registry import available_techniques, technique

#: the small profile (CI, quick looks) writes at most this many files per sample x technique
SMALL_EXPECTED_CAP = 2


#: the demo campaigns: name -> (campaign file, files copied beside it into config/)
CAMPAIGNS = {"ncm622": ("demo_campaign.yaml", ()),
             "olivine": ("demo_olivine_campaign.yaml", ("demo_olivine/LiFePO4.cif", "demo_olivine/FePO4.cif"))}


def demo_config_text(profile: str, campaign: str = "ncm622") -> str:
    text = resources.files("socscope").joinpath(CAMPAIGNS[campaign][0]).read_text(encoding="utf-8")
    if profile == "full":
        return text
    data = yaml.safe_load(text)
    for sample, techs in data.get("expected", {}).items():
        for tech, n in techs.items():
            techs[tech] = min(n, SMALL_EXPECTED_CAP)
    header = "# socscope demo campaign, small profile (fewer maps, patterns, spectra). See `socscope demo --help`.\n"
    return header + yaml.safe_dump(data, sort_keys=False)


def write_config(root: Path, profile: str = "small", campaign_name: str = "ncm622") -> Campaign:
    """Only the campaign file (and the files it names, e.g. phase CIFs under config/) of a demo campaign."""
    root = Path(root).resolve()
    root.mkdir(parents=True, exist_ok=True)
    for extra in CAMPAIGNS[campaign_name][1]:
        (root / "config").mkdir(exist_ok=True)
        (root / "config" / Path(extra).name).write_bytes(resources.files("socscope").joinpath(extra).read_bytes())
    config = root / "campaign.yaml"
    config.write_text(demo_config_text(profile, campaign_name), encoding="utf-8")
    return load_campaign(config)


def write_demo(root: Path, profile: str = "small", seed: int = 622, techniques: list[str] | None = None,
               campaign_name: str = "ncm622") -> Campaign:
    """Write campaign.yaml, every technique's vendor files under share/, and truth/ (for scoring).

    ``campaign_name``: ncm622 (the default, 14 samples, five techniques) or olivine (one operando
    LiFePO4 cell: cycler + diffraction, phases from CIFs under config/)."""
    if profile not in ("small", "full"):
        raise ValueError(f"unknown demo profile {profile!r}: use 'small' or 'full'")
    if campaign_name not in CAMPAIGNS:
        raise ValueError(f"unknown demo campaign {campaign_name!r}: use one of {sorted(CAMPAIGNS)}")
    root = Path(root).resolve()
    for folder in ("share", "truth"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    campaign = write_config(root, profile, campaign_name)
    # a second campaign gets files only for the techniques it has shares for (the default: every technique)
    shared = {share.technique for share in campaign.shares} if campaign_name != "ncm622" else None
    for name in available_techniques():
        if (techniques and name not in techniques) or (shared is not None and name not in shared):
            continue
        plugin = technique(name)
        if plugin.demo is None:
            continue
        plugin.demo(DemoRequest(share_root=root / "share", truth_root=root / "truth", profile=profile,
                                seed=seed, campaign=campaign))
    macos_junk(root / "share" / "afm")  # the AFM lab copies its files from a Mac
    macos_junk(root / "share" / "echem", apple_double=False, folders=False)  # and once browsed the cyclers' share
    return campaign


#: written last under the demo folder: which demo it holds, so that `socscope demo` again does not rewrite
#: (and so re-date) every file of it
MARKER = ".demo-written.json"


def write_demo_once(root: Path, profile: str = "small", seed: int = 622, campaign_name: str = "ncm622") -> bool:
    """``write_demo`` unless ``root`` already holds that demo complete (its marker, written last, names
    the same profile, seed and campaign); True when the files were written now."""
    import json

    root = Path(root).resolve()
    wanted = {"profile": profile, "seed": seed, "campaign": campaign_name}
    marker = root / MARKER
    try:
        if json.loads(marker.read_text()) == wanted and (root / "campaign.yaml").is_file():
            return False
    except (OSError, ValueError):
        pass
    marker.unlink(missing_ok=True)
    write_demo(root, profile, seed, campaign_name=campaign_name)
    marker.write_text(json.dumps(wanted))
    return True


#: AppleDouble header (magic 0x00051607, version 2, "Mac OS X" filler, no entries) and the .DS_Store
#: magic ("\0\0\0\1Bud1"): what a Mac leaves beside files it copies onto a non-Mac volume
APPLE_DOUBLE = b"\x00\x05\x16\x07\x00\x02\x00\x00Mac OS X        \x00\x00"
DS_STORE = b"\x00\x00\x00\x01Bud1" + bytes(28)


def macos_junk(share: Path, apple_double: bool = True, folders: bool = True) -> None:
    """A ``._<name>`` beside every file and a ``.DS_Store`` in the share's top folder (and every sample
    folder): files the share's default ignore list keeps out (`socscope status --ignored` lists them)."""
    if not share.is_dir():
        return
    files = sorted(p for p in share.rglob("*") if p.is_file()) if apple_double else []
    for path in files:
        (path.parent / f"._{path.name}").write_bytes(APPLE_DOUBLE)
    dirs = [share, *sorted(d for d in share.iterdir() if d.is_dir())] if folders else [share]
    for folder in dirs:
        (folder / ".DS_Store").write_bytes(DS_STORE)
