"""TensorJudge core: settings, problem packages, comparison, verdicts and the grading pipeline.

core imports neither FastAPI nor Celery; api/, worker/ and cli/ are thin front ends over it.
"""
