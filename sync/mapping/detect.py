"""Layout detection: every preset scored against a file's header, the best taken only when it fits."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from math import fsum

from connectors.base import FatalSourceError
from sync.mapping.layouts import (
    PRESETS,
    Layout,
    header_layout,
    native_layout,
    preset,
    refuse_other_salesforce_object,
)
from sync.mapping.spec import header_key

# A preset is taken when the file has at least this share of one of its real headers' columns.
# The presets' own headers score 1.0 and the other presets' headers at most 0.4 against each
# other (tests/sync/mapping/test_detect.py keeps that matrix), so the bar sits between them.
FIT = 0.6


@dataclass(frozen=True, slots=True)
class PresetFit:
    """How well one preset's best-matching real header fits a file's header."""

    name: str
    variant: str
    # The weighted share of that header's columns the file has (0 to 1).
    share: float
    present: int
    total: int
    # The file has a column the preset identifies rows by (its id, e-mail or phone column).
    identifies: bool

    def describe(self) -> str:
        return f"{self.name} ({self.present} of its {self.total} columns)"


def _identifying(layout: Layout) -> list[str]:
    spec = layout.spec
    return [*spec.id_columns, *spec.fields.get("email", []), *spec.fields.get("phoneNumber", [])]


@dataclass(frozen=True, slots=True)
class _Signatures:
    # (preset, its identifying header keys, [(variant, its header keys)])
    presets: list[tuple[str, frozenset[str], list[tuple[str, frozenset[str]]]]]
    weight: dict[str, float]


@lru_cache(maxsize=1)
def _signatures() -> _Signatures:
    presets = []
    holders: dict[str, set[str]] = {}
    for name in PRESETS:
        if name == "native":
            continue
        layout = preset(name)
        variants = [(v, frozenset(header_key(c) for c in cols)) for v, cols in layout.detect]
        presets.append((name, frozenset(header_key(c) for c in _identifying(layout)), variants))
        for _, keys in variants:
            for key in keys:
                holders.setdefault(key, set()).add(name)
    # The documented names count as one more holder: `firstname` is native before it is
    # Salesforce's `FirstName`.
    for documented in native_layout("customers").spec.fields:
        holders.setdefault(header_key(documented), set()).add("native")
    # A column only one product writes (`Klaviyo ID`, `LEID`) says more than one every export
    # has (`First Name`, `Email`): each weighs 1 / the number of presets whose headers have it.
    return _Signatures(presets, {key: 1 / len(names) for key, names in holders.items()})


def score_presets(header: list[str], kind: str = "customers") -> list[PresetFit]:
    """Every bundled preset of `kind` scored against `header`, best first."""
    if kind != "customers":
        return []
    present = {header_key(h) for h in header}
    table = _signatures()
    fits: list[PresetFit] = []
    for name, identifying, variants in table.presets:
        best: PresetFit | None = None
        for variant, keys in variants:
            found = keys & present
            # fsum: exactly rounded, so the share is the same whatever order the sets iterate in.
            share = fsum(table.weight[k] for k in found) / fsum(table.weight[k] for k in keys)
            fit = PresetFit(name, variant, share, len(found), len(keys), bool(identifying & present))
            if best is None or (fit.share, fit.present) > (best.share, best.present):
                best = fit
        if best is not None:
            fits.append(best)
    return sorted(fits, key=lambda f: (f.share, f.present), reverse=True)


def _header_identifies(layout: Layout, header: list[str]) -> bool:
    present = {header_key(h) for h in header}
    kind = layout.spec.kind
    identifying = _identifying(layout) if kind == "customers" else layout.spec.id_columns
    return any(header_key(c) in present for c in identifying)


def detect_layout(header: list[str], kind: str) -> Layout:
    """The preset that fits the header; else the fields its own names give, if rows can be told apart.

    A header that fits no preset well and names no id, e-mail or phone is refused in one line
    naming the closest presets: taking it because two names happen to match would reject
    every row as `no_identifier`.
    """
    if kind == "customers":
        refuse_other_salesforce_object(header)
    fits = score_presets(header, kind)
    fitting = [f for f in fits if f.share >= FIT]
    if fitting and fitting[0].identifies:
        return preset(fitting[0].name, kind)
    found = header_layout(header, kind)
    if found is not None and _header_identifies(found, header):
        return found
    if fitting:
        best = preset(fitting[0].name, kind)
        columns = ", ".join(repr(c) for c in _identifying(best))
        why = (
            f"it looks like a {best.name} export ({fitting[0].present} of its {fitting[0].total} columns) "
            f"but has none of the columns it identifies rows by ({columns})"
        )
    else:
        closest = [f.describe() for f in fits if f.present][:3]
        why = f"no preset fits (closest: {', '.join(closest)})" if closest else "no preset fits"
        if found is not None:
            why += f", and no column names an id{', e-mail or phone' if kind == 'customers' else ''}"
    raise FatalSourceError(
        f"cannot tell the layout of this file from its header: {why}; "
        "pass --preset NAME or --mapping FILE (customer-sync presets list shows the presets)"
    )
