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


def demo_config_text(profile: str) -> str:
    text = resources.files("socscope").joinpath("demo_campaign.yaml").read_text(encoding="utf-8")
    if profile == "full":
        return text
    data = yaml.safe_load(text)
    for sample, techs in data.get("expected", {}).items():
        for tech, n in techs.items():
            techs[tech] = min(n, SMALL_EXPECTED_CAP)
    header = "# socscope demo campaign, small profile (fewer maps, patterns, spectra). See `socscope demo --help`.\n"
    return header + yaml.safe_dump(data, sort_keys=False)


def write_demo(root: Path, profile: str = "small", seed: int = 622, techniques: list[str] | None = None) -> Campaign:
    """Write campaign.yaml, every technique's vendor files under share/, and truth/ (for scoring)."""
    if profile not in ("small", "full"):
        raise ValueError(f"unknown demo profile {profile!r}: use 'small' or 'full'")
    root = Path(root).resolve()
    (root / "share").mkdir(parents=True, exist_ok=True)
    (root / "truth").mkdir(parents=True, exist_ok=True)
    config = root / "campaign.yaml"
    config.write_text(demo_config_text(profile), encoding="utf-8")
    campaign = load_campaign(config)
    for name in available_techniques():
        if techniques and name not in techniques:
            continue
        plugin = technique(name)
        if plugin.demo is None:
            continue
        plugin.demo(DemoRequest(share_root=root / "share", truth_root=root / "truth", profile=profile,
                                seed=seed, campaign=campaign))
    macos_junk(root / "share" / "afm")  # the AFM lab copies its files from a Mac
    macos_junk(root / "share" / "echem", apple_double=False, folders=False)  # and once browsed the cyclers' share
    return campaign


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
