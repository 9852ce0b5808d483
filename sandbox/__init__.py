"""Isolation backends, the in-sandbox harness and the wire protocol between them.

Nothing here imports TensorJudge's other packages, so the harness can run alone inside a
container or a bubblewrap sandbox.
"""
