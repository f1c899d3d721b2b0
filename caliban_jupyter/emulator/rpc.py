"""Google API errors as the emulator answers them, and the Vertex enums it must translate.

Vertex answers every failure with Google's error envelope
``{"error": {"code": 400, "message": "...", "status": "INVALID_ARGUMENT"}}`` and the
matching HTTP status; google-api-core turns that into ``google.api_core.exceptions.*``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

# Canonical gRPC status names and the HTTP status Google maps each to.
HTTP_STATUS = {
    "INVALID_ARGUMENT": 400,
    "FAILED_PRECONDITION": 400,
    "OUT_OF_RANGE": 400,
    "UNAUTHENTICATED": 401,
    "PERMISSION_DENIED": 403,
    "NOT_FOUND": 404,
    "ABORTED": 409,
    "ALREADY_EXISTS": 409,
    "RESOURCE_EXHAUSTED": 429,
    "CANCELLED": 499,
    "INTERNAL": 500,
    "UNIMPLEMENTED": 501,
    "UNAVAILABLE": 503,
    "DEADLINE_EXCEEDED": 504,
}

# google.cloud.aiplatform.v1.JobState (checked against the SDK by a unit test).
JOB_STATES = {
    "JOB_STATE_UNSPECIFIED": 0,
    "JOB_STATE_QUEUED": 1,
    "JOB_STATE_PENDING": 2,
    "JOB_STATE_RUNNING": 3,
    "JOB_STATE_SUCCEEDED": 4,
    "JOB_STATE_FAILED": 5,
    "JOB_STATE_CANCELLING": 6,
    "JOB_STATE_CANCELLED": 7,
    "JOB_STATE_PAUSED": 8,
    "JOB_STATE_EXPIRED": 9,
    "JOB_STATE_UPDATING": 10,
    "JOB_STATE_PARTIALLY_SUCCEEDED": 11,
}
JOB_STATE_NAMES = {v: k for k, v in JOB_STATES.items()}
TERMINAL_STATES = frozenset(
    {
        "JOB_STATE_SUCCEEDED",
        "JOB_STATE_FAILED",
        "JOB_STATE_CANCELLED",
        "JOB_STATE_PAUSED",
        "JOB_STATE_EXPIRED",
        "JOB_STATE_PARTIALLY_SUCCEEDED",
    }
)

# A cancelled job's ``error``: "On successful cancellation, the CustomJob is not deleted;
# instead it becomes a job with a CustomJob.error value with a google.rpc.Status.code of 1,
# corresponding to Code.CANCELLED" (projects.locations.customJobs.cancel,
# https://cloud.google.com/vertex-ai/docs/reference/rest/v1/projects.locations.customJobs/cancel).
# The message is ours: no source quotes the one Vertex sets.
CANCELLED_ERROR = {"code": 1, "message": "CustomJob was cancelled (customJobs.cancel)."}

# google.cloud.aiplatform.v1.AcceleratorType: the SDK sends these as integers.
ACCELERATOR_TYPES = {
    "ACCELERATOR_TYPE_UNSPECIFIED": 0,
    "NVIDIA_TESLA_K80": 1,
    "NVIDIA_TESLA_P100": 2,
    "NVIDIA_TESLA_V100": 3,
    "NVIDIA_TESLA_P4": 4,
    "NVIDIA_TESLA_T4": 5,
    "TPU_V2": 6,
    "TPU_V3": 7,
    "NVIDIA_TESLA_A100": 8,
    "NVIDIA_A100_80GB": 9,
    "TPU_V4_POD": 10,
    "NVIDIA_L4": 11,
    "TPU_V5_LITEPOD": 12,
    "NVIDIA_H100_80GB": 13,
    "NVIDIA_H100_MEGA_80GB": 14,
    "NVIDIA_H200_141GB": 15,
    "NVIDIA_B200": 16,
    "NVIDIA_GB200": 17,
    "NVIDIA_RTX_PRO_6000": 18,
}
ACCELERATOR_TYPE_NAMES = {v: k for k, v in ACCELERATOR_TYPES.items()}
# google.cloud.aiplatform.v1.Scheduling.Strategy and ReservationAffinity.Type.
STRATEGIES = {"STRATEGY_UNSPECIFIED": 0, "ON_DEMAND": 1, "LOW_COST": 2, "STANDARD": 3,
              "SPOT": 4, "FLEX_START": 6}
RESERVATION_AFFINITY_TYPES = {"TYPE_UNSPECIFIED": 0, "NO_RESERVATION": 1,
                              "ANY_RESERVATION": 2, "SPECIFIC_RESERVATION": 3}
# google.cloud.aiplatform.v1.StudySpec's enums (MetricSpec.GoalType, ParameterSpec.ScaleType,
# Algorithm, MeasurementSelectionType, ObservationNoise) and Trial.State, for
# HyperparameterTuningJobs (checked against the SDK by a unit test).
GOALS = {"GOAL_TYPE_UNSPECIFIED": 0, "MAXIMIZE": 1, "MINIMIZE": 2}
SCALE_TYPES = {"SCALE_TYPE_UNSPECIFIED": 0, "UNIT_LINEAR_SCALE": 1, "UNIT_LOG_SCALE": 2,
               "UNIT_REVERSE_LOG_SCALE": 3}
ALGORITHMS = {"ALGORITHM_UNSPECIFIED": 0, "GRID_SEARCH": 2, "RANDOM_SEARCH": 3}
MEASUREMENT_SELECTION = {"MEASUREMENT_SELECTION_TYPE_UNSPECIFIED": 0, "LAST_MEASUREMENT": 1,
                         "BEST_MEASUREMENT": 2}
OBSERVATION_NOISE = {"OBSERVATION_NOISE_UNSPECIFIED": 0, "LOW": 1, "HIGH": 2}
TRIAL_STATES = {"STATE_UNSPECIFIED": 0, "REQUESTED": 1, "ACTIVE": 2, "STOPPING": 3,
                "SUCCEEDED": 4, "INFEASIBLE": 5}
#: Enum fields of a CustomJob or HyperparameterTuningJob body (lowerCamelCase) and their
#: name -> number tables (a trial's ``state`` is converted apart: see encode_enums_as_ints).
ENUM_FIELDS = {"acceleratorType": ACCELERATOR_TYPES, "strategy": STRATEGIES,
               "reservationAffinityType": RESERVATION_AFFINITY_TYPES, "goal": GOALS,
               "scaleType": SCALE_TYPES, "algorithm": ALGORITHMS,
               "measurementSelectionType": MEASUREMENT_SELECTION,
               "observationNoise": OBSERVATION_NOISE}


class ApiError(Exception):
    """A request the emulator refuses, answered with Google's error envelope.

    Parameters
    ----------
    status
        Canonical status name (``INVALID_ARGUMENT``, ``NOT_FOUND`` ...).
    message
        The human message, saying what is wrong and what to do.
    details
        Optional ``google.rpc`` detail objects (already in JSON form).
    """

    def __init__(
        self, status: str, message: str, details: Sequence[Mapping[str, Any]] = ()
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.details = list(details)

    @property
    def http_status(self) -> int:
        return HTTP_STATUS.get(self.status, 500)

    def to_json(self) -> dict[str, Any]:
        error: dict[str, Any] = {
            "code": self.http_status,
            "message": self.message,
            "status": self.status,
        }
        if self.details:
            error["details"] = self.details
        return {"error": error}


def invalid_argument(violations: Sequence[tuple[str, str]]) -> ApiError:
    """The INVALID_ARGUMENT error Vertex gives for a bad request body.

    Vertex lists every violation in the message (``List of found errors:\\t1.Field: ...``)
    and repeats them as a ``google.rpc.BadRequest`` detail; the emulator does the same.
    """
    parts = [f"{i}.Field: {field}; Message: {msg}" for i, (field, msg) in
             enumerate(violations, 1)]
    message = "List of found errors:\t" + "\t".join(parts) + "\t"
    detail = {
        "@type": "type.googleapis.com/google.rpc.BadRequest",
        "fieldViolations": [{"field": f, "description": m} for f, m in violations],
    }
    return ApiError("INVALID_ARGUMENT", message, [detail])


def state_name(value: str | int) -> str:
    """A JobState given as name or integer, as its name (``JOB_STATE_...``)."""
    if isinstance(value, int) or (isinstance(value, str) and value.isdigit()):
        return JOB_STATE_NAMES.get(int(value), "JOB_STATE_UNSPECIFIED")
    return str(value)
