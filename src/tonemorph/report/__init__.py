"""`tonemorph report`: one self-contained HTML page showing a learned tone and how close it gets."""

from __future__ import annotations

from tonemorph.report.build import (
    DEFAULT_EXCERPT_S,
    ReportData,
    ReportResult,
    analyze,
    build_report,
)
from tonemorph.report.html import SECTIONS, chain_blocks

__all__ = ["DEFAULT_EXCERPT_S", "ReportData", "ReportResult", "SECTIONS", "analyze", "build_report",
           "chain_blocks"]
