"""Training reports: PNG figures and an HTML page in MODEL/report (``elman report MODEL``)."""

from __future__ import annotations

from elman.report.confusion import EntityConfusion, entity_confusion
from elman.report.writer import write_report, write_training_report

__all__ = ["EntityConfusion", "entity_confusion", "write_report", "write_training_report"]
