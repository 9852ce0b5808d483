"""Runs the harness on trusted code (the reference) in a separate, unsandboxed process.

Only the instructor's reference goes through here; student code never does.
"""

from __future__ import annotations

from sandbox.backends.base import RunResult, RunSpec, harness_env, python_executable, run_with_channel


class TrustedRunner:
    """Same harness, same protocol, no isolation: for reference solutions only."""

    name = "trusted"

    def run(self, spec: RunSpec) -> RunResult:
        """Run the supervisor directly on the job directory."""
        from sandbox.backends.base import HARNESS_ROOT

        env = harness_env({"PYTHONPATH": str(HARNESS_ROOT)})
        return run_with_channel(
            lambda fd: [
                python_executable(), "-m", "sandbox.harness.supervisor",
                str(spec.job_dir / "job.json"), str(fd),
            ],
            spec,
            env=env,
        )
