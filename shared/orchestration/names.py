"""The names the Durable extension knows the functions by.

Each is used by both the registration (``blueprints/exports.py``) and the ``call_activity`` that
schedules it, so a rename cannot half-apply.
"""

ORCHESTRATOR = "export_orchestrator"

PLAN_RUN = "plan_run"
REPORT_UNPLANNED = "report_unplanned"
CHECK_DESTINATION = "check_destination"
READ_SUPPRESSIONS = "read_suppressions"
STAGE_PART = "stage_part"
DIFF_PARTITION = "diff_partition"
CUT_BATCHES = "cut_batches"
APPLY_BATCHES = "apply_batches"
POLL_JOBS = "poll_jobs"
FINISH_PARTITION = "finish_partition"
COMMIT_RUN = "commit_run"


def instance_id_for(export_id: str) -> str:
    """One active run per export: the instance id is derived from the export."""
    return f"export-{export_id}"
