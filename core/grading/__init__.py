"""Grading: the pipeline (grade) and package validation (validate)."""

from core.grading.pipeline import Graded, grade, grade_detailed
from core.grading.validate import ValidationReport, validate

__all__ = ["Graded", "ValidationReport", "grade", "grade_detailed", "validate"]
