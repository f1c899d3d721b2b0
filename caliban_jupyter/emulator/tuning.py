"""Runs HyperparameterTuningJobs: proposes trials, runs each as a CustomJob, reads their
metrics and ends the study as Vertex AI does.

One thread per unfinished tuning job (its "driver") polls the store:

- it keeps up to ``parallelTrialCount`` trials ACTIVE, each a CustomJob (stored with
  ``jobs.tuning_job`` set: hidden from ``customJobs.list``, run by the ordinary
  :class:`~.runner.Runner`, so ``max_running`` of the emulator also bounds them), until
  ``maxTrialCount`` trials were proposed or a grid is exhausted;
- a trial's CustomJob is the ``trialJobSpec`` with the trial's parameters appended to every
  pool's args as ``--name=value`` (Vertex AI "passes the values as arguments", see
  :mod:`caliban_jupyter.spec.search_space`), ``CLOUD_ML_TRIAL_ID`` and
  ``CLOUD_ML_HP_METRIC_FILE`` in its env (the variables ``cloudml-hypertune`` reads:
  GoogleCloudPlatform/cloudml-hypertune, hypertune/hypertune.py), and, when the trial job
  spec has a ``baseOutputDirectory``, the trial's own subdirectory ``BASE/TRIAL_ID`` ("For
  HyperparameterTuningJob, the baseOutputDirectory of each child CustomJob backing a Trial is
  set to a subdirectory of name id under its parent HyperparameterTuningJob's
  baseOutputDirectory", CustomJobSpec.baseOutputDirectory in
  https://cloud.google.com/vertex-ai/docs/reference/rest/v1/CustomJobSpec), so
  ``AIP_MODEL_DIR`` is ``BASE/TRIAL_ID/model/``;
- the metrics file (``/tmp/hypertune/output.metrics`` in every replica: one host directory
  per trial, mounted there) is read while the trial runs; each new value of
  ``studySpec.metrics[0].metricId`` is a measurement, and the median rule
  (``medianAutomatedStoppingSpec``) may stop the trial (state STOPPING, its CustomJob
  cancelled);
- when its CustomJob ends, a trial with measurements SUCCEEDED, its ``finalMeasurement`` the
  last one (the best with ``measurementSelectionType: BEST_MEASUREMENT``,
  StudySpec.MeasurementSelectionType); a trial without, or whose job failed, is INFEASIBLE
  with ``infeasibleReason`` ("The service will set a Trial to INFEASIBLE when it's done but
  missing the final_measurement", Trial.State in
  https://cloud.google.com/vertex-ai/docs/reference/rest/v1/projects.locations.studies.trials);
- ``maxFailedTrialCount`` INFEASIBLE trials fail the tuning job ("The number of failed
  Trials that need to be seen before failing the HyperparameterTuningJob", REST reference of
  hyperparameterTuningJobs); with 0 ("Vertex AI decides") the emulator fails it only when
  no trial succeeded (our choice);
- the job SUCCEEDS when every proposed trial ended and at least one succeeded; a cancel
  stops the running trials and ends it CANCELLED with error code 1 (hyperparameterTuningJobs
  .cancel: "a HyperparameterTuningJob.error value with a google.rpc.Status.code of 1").

Ours, for lack of a source: the error codes and messages of a failed study, the trial
CustomJobs' display names (``NAME-trial-ID``), discrete values that are whole numbers passed
without ``.0``, a stopped trial's final measurement being its last report.

The job's log (``logs/ID.log``, served at ``/logs/ID``) says which optimiser proposed the
trials (:attr:`.study.Study.algorithm_name`) and each trial's parameters and outcome.

After an emulator restart, unfinished tuning jobs continue: the study is rebuilt from the
stored trials (:meth:`.study.Study.replay`), the runner re-attaches the trials' containers
(or fails trials whose containers vanished), and new trials are proposed as before.
"""

from __future__ import annotations

import copy
import json
import logging
import threading
import time
from collections.abc import Mapping
from typing import Any

from ..spec.search_space import trial_args
from .replicas import note
from .resources import rfc3339
from .rpc import TERMINAL_STATES, ApiError
from .runner import HYPERTUNE_DIR, Runner
from .store import JobStore
from .study import Study, parse_parameters, read_measurements
from .supervise import crash_message
from .tuning_store import TuningJob, TuningStore, trial_metrics_dir

log = logging.getLogger(__name__)

QUEUED, PENDING, RUNNING = "JOB_STATE_QUEUED", "JOB_STATE_PENDING", "JOB_STATE_RUNNING"
CANCELLING, CANCELLED = "JOB_STATE_CANCELLING", "JOB_STATE_CANCELLED"
SUCCEEDED, FAILED = "JOB_STATE_SUCCEEDED", "JOB_STATE_FAILED"
ACTIVE_STATES = (QUEUED, PENDING, RUNNING, CANCELLING)
LIVE = ("ACTIVE", "STOPPING")
METRIC_FILE = f"{HYPERTUNE_DIR}/output.metrics"
POLL_SECONDS = 0.25
# The tuning job's error when cancelled: code 1 is Vertex's (see the module docstring); the
# message is ours.
CANCELLED_ERROR = {"code": 1, "message": "HyperparameterTuningJob was cancelled "
                                         "(hyperparameterTuningJobs.cancel)."}
# google.rpc.Code of a study that failed (ours: FAILED_PRECONDITION, the trials' outcome
# stops it) and of one the emulator itself could not drive (INTERNAL).
STUDY_FAILED, EMULATOR_FAILED = 9, 13


def trial_job_body(job: TuningJob, trial_id: str, values: Mapping[str, Any]) -> dict[str, Any]:
    """The CustomJob that runs trial ``trial_id`` with parameters ``values``."""
    spec = copy.deepcopy(dict(job.body["trialJobSpec"]))
    kinds = {p.name: p.kind for p in parse_parameters(job.body["studySpec"])}
    shown = {k: int(v) if kinds.get(k) == "discrete" and float(v).is_integer() else v
             for k, v in values.items()}
    args = trial_args(shown)
    env = {"CLOUD_ML_TRIAL_ID": trial_id, "CLOUD_ML_HP_METRIC_FILE": METRIC_FILE}
    for pool in spec.get("workerPoolSpecs") or []:
        for key in ("containerSpec", "pythonPackageSpec"):
            part = pool.get(key) if isinstance(pool, dict) else None
            if isinstance(part, dict):
                part["args"] = [*(part.get("args") or []), *args]
                part["env"] = [e for e in part.get("env") or [] if e.get("name") not in env]
                part["env"] += [{"name": k, "value": v} for k, v in env.items()]
    base = (spec.get("baseOutputDirectory") or {}).get("outputUriPrefix")
    if base:
        spec["baseOutputDirectory"] = {"outputUriPrefix": f"{base.rstrip('/')}/{trial_id}"}
    name = f"{job.display_name}-trial-{trial_id}"
    return {"displayName": name[-128:], "labels": dict(job.labels), "jobSpec": spec}


def _duration(seconds: float) -> str:
    return f"{max(seconds, 0.0):.3f}s"


class Tuner:
    """Drives every unfinished tuning job of a store, one thread each."""

    def __init__(self, store: JobStore, tunings: TuningStore, runner: Runner,
                 poll_seconds: float = POLL_SECONDS) -> None:
        self.store = store
        self.tunings = tunings
        self.runner = runner
        self.poll_seconds = poll_seconds
        self._stopping = threading.Event()
        self._threads: dict[int, threading.Thread] = {}
        self._lock = threading.Lock()

    def start(self) -> None:
        """Continue the tuning jobs a previous emulator left unfinished."""
        for job in self.tunings.list(states=ACTIVE_STATES):
            self.drive(job.id)

    def shutdown(self) -> None:
        self._stopping.set()
        with self._lock:
            threads = list(self._threads.values())
        for thread in threads:
            thread.join(timeout=10)

    def drive(self, job_id: int) -> None:
        """Start the driver of tuning job ``job_id`` (once)."""
        with self._lock:
            if job_id in self._threads and self._threads[job_id].is_alive():
                return
            thread = threading.Thread(target=self._guarded, args=(job_id,),
                                      name=f"emulator-tuning-{job_id}", daemon=True)
            self._threads[job_id] = thread
        thread.start()

    def cancel(self, job: TuningJob) -> None:
        """Start cancelling a tuning job (its driver stops the trials and ends it)."""
        if job.state in TERMINAL_STATES:
            raise ApiError("FAILED_PRECONDITION", f"HyperparameterTuningJob {job.name} is "
                           f"already in state {job.state} and cannot be cancelled.")
        self.tunings.update(job.id, state=CANCELLING, only_from=[QUEUED, PENDING, RUNNING])
        self.drive(job.id)  # e.g. a driver that ended with an error

    # -- one tuning job --------------------------------------------------------------------

    def _guarded(self, job_id: int) -> None:
        try:
            _Driver(self, job_id).run()
        except Exception as e:  # the tuning job must end, whatever went wrong
            if self._stopping.is_set():
                return
            log.error("tuning job %s failed in the emulator itself", job_id, exc_info=True)
            self.tunings.update(job_id, state=FAILED, end_time=True, only_from=ACTIVE_STATES,
                                error={"code": EMULATOR_FAILED,
                                       "message": crash_message(e, self.runner.config.log_file)})


class _Driver:
    def __init__(self, tuner: Tuner, job_id: int) -> None:
        self.tuner = tuner
        self.job_id = job_id
        self.log = tuner.store.log_path(job_id)
        job = tuner.tunings.get(job_id)
        assert job is not None
        self.job = job
        self.study = Study(job.body["studySpec"], seed=job_id % 2**31)
        self.metric = self.study.metric
        self.median = "medianAutomatedStoppingSpec" in job.body["studySpec"]
        self.best = job.body["studySpec"].get("measurementSelectionType") == "BEST_MEASUREMENT"
        self.exhausted = False
        self.ending: tuple[str, dict[str, Any]] | None = None

    def say(self, text: str) -> None:
        note(self.log, text)

    def run(self) -> None:
        trials = copy.deepcopy(self.job.trials)
        if trials:
            self.say(f"emulator restarted: continuing the study from its {len(trials)} "
                     f"trials ({self.study.algorithm_name})")
            self._replay(trials)
        else:
            self.log.write_bytes(b"")
            self.say(f"trials proposed by {self.study.algorithm_name}")
        self.tuner.tunings.update(self.job_id, state=PENDING, only_from=[QUEUED])
        written = json.dumps(trials, sort_keys=True)
        while not self.tuner._stopping.is_set():
            job = self.tuner.tunings.get(self.job_id)
            if job is None or job.state in TERMINAL_STATES:
                return  # deleted, or ended by a previous driver
            self.job = job
            if job.state == CANCELLING and self.ending is None:
                self.ending = (CANCELLED, CANCELLED_ERROR)
                self.say("cancelled: stopping the running trials")
            self._sync(trials)
            if self._next(trials):
                return
            snapshot = json.dumps(trials, sort_keys=True)
            if snapshot != written:  # most polls change nothing: no write then
                self.tuner.tunings.update(self.job_id, trials=trials, only_from=ACTIVE_STATES)
                written = snapshot
            self.tuner._stopping.wait(self.tuner.poll_seconds)

    def _replay(self, trials: list[dict[str, Any]]) -> None:
        for t in trials:
            self.study.replay(t["id"], {p["parameterId"]: p["value"] for p in t["parameters"]})
            for m in t.get("measurements") or []:
                self.study.measure(t["id"], m["metrics"][0]["value"])
            if t["state"] not in LIVE:
                final = t.get("finalMeasurement")
                self.study.complete(t["id"], final["metrics"][0]["value"] if final else None)

    # -- trials ---------------------------------------------------------------------------

    def _sync(self, trials: list[dict[str, Any]]) -> None:
        """Read the live trials' metrics; end those whose CustomJob ended."""
        for t in trials:
            if t["state"] not in LIVE:
                continue
            job = self.tuner.store.get(t["_job"])
            self._measure(t)
            if job is None:
                self._end(t, None, "The trial's CustomJob was deleted.")
            elif job.state in TERMINAL_STATES:
                reason = None
                if job.state == FAILED:
                    reason = ("The trial's CustomJob failed: "
                              f"{(job.error or {}).get('message', 'no message')}")
                elif job.state == CANCELLED and not t.get("_stopped"):
                    reason = "The trial was stopped because its tuning job ended."
                self._end(t, job.state, reason)
            elif t["state"] == "ACTIVE" and self.median and self.study.should_stop(t["id"]):
                t["state"] = "STOPPING"
                t["_stopped"] = True
                self.say(f"trial {t['id']}: stopped early by the median rule")
                self._cancel_job(t)

    def _measure(self, t: dict[str, Any]) -> None:
        path = trial_metrics_dir(self.tuner.store.state_dir, t["_job"]) / "output.metrics"
        try:
            text = path.read_text(errors="replace")
        except FileNotFoundError:
            return
        measurements = t.setdefault("measurements", [])
        started = t.get("_start", time.time())
        for i, (step, value) in enumerate(read_measurements(text, self.metric)):
            if i < len(measurements):
                continue
            measurements.append({
                "elapsedDuration": _duration(time.time() - started),
                "stepCount": str(step if step is not None else i + 1),
                "metrics": [{"metricId": self.metric, "value": value}]})
            self.study.measure(t["id"], value)

    def _end(self, t: dict[str, Any], job_state: str | None, reason: str | None) -> None:
        measurements = t.get("measurements") or []
        t["endTime"] = _now()
        if reason is None and not measurements:
            reason = (f"The trial reported no value of the metric {self.metric!r}: its "
                      "program must write it with cloudml-hypertune (or a line of the same "
                      f"form) to $CLOUD_ML_HP_METRIC_FILE. See its log: "
                      f"{self.tuner.runner.job_url(t['_job'])}")
        if reason is not None:
            t["state"] = "INFEASIBLE"
            t["infeasibleReason"] = reason
            # A trial ended by its tuning job's own end is not a failed trial.
            t["_failed"] = job_state != CANCELLED or bool(t.get("_stopped"))
            self.study.complete(t["id"], None)
            self.say(f"trial {t['id']}: INFEASIBLE: {reason}")
            return
        sign = 1 if self.study.maximize else -1
        final = (max(measurements, key=lambda m: sign * m["metrics"][0]["value"])
                 if self.best else measurements[-1])
        t["state"] = "SUCCEEDED"
        t["finalMeasurement"] = final
        value = final["metrics"][0]["value"]
        self.study.complete(t["id"], value)
        self.say(f"trial {t['id']}: SUCCEEDED, {self.metric}={value:g}")

    def _cancel_job(self, t: dict[str, Any]) -> None:
        try:
            self.tuner.runner.cancel(t["_job"])
        except ApiError:
            pass  # it ended meanwhile: the next poll ends the trial

    def _propose(self, trials: list[dict[str, Any]]) -> bool:
        """Start one more trial; False when the study has no more to propose."""
        trial_id = str(len(trials) + 1)
        values = self.study.suggest(trial_id)
        if values is None:
            return False
        job = self.job
        body = trial_job_body(job, trial_id, values)
        created = self.tuner.store.create(job.project_number, job.location, body,
                                          tuning_job=job.id)
        trials.append({
            "id": trial_id, "state": "ACTIVE",
            "parameters": [{"parameterId": k, "value": v} for k, v in values.items()],
            "startTime": _now(), "customJob": created.name,
            "_job": created.id, "_start": time.time()})
        # Recorded at once: a restart right now must find the trial its CustomJob runs.
        self.tuner.tunings.update(job.id, trials=trials, only_from=ACTIVE_STATES)
        self.say(f"trial {trial_id}: {' '.join(trial_args(values))} (CustomJob "
                 f"{created.id})")
        self.tuner.runner.wake()
        if job.state == PENDING:
            self.tuner.tunings.update(job.id, state=RUNNING, start_time=True,
                                      only_from=[PENDING])
        return True

    def _next(self, trials: list[dict[str, Any]]) -> bool:
        """Propose trials or end the study; True when it ended."""
        live = [t for t in trials if t["state"] in LIVE]
        failed = sum(1 for t in trials if t.get("_failed"))
        limit = int(self.job.body.get("maxFailedTrialCount") or 0)
        if self.ending is None and limit and failed >= limit:
            self.ending = (FAILED, {"code": STUDY_FAILED, "message": (
                f"{failed} trials failed, which reaches maxFailedTrialCount ({limit}); the "
                "tuning job stopped. Each trial's infeasibleReason says why it failed.")})
            self.say(self.ending[1]["message"])
        if self.ending is not None:
            for t in live:
                if not t.get("_cancel_sent"):
                    t["_cancel_sent"] = True
                    self._cancel_job(t)
            if live:
                return False
            state, error = self.ending
            self.tuner.tunings.update(self.job_id, trials=trials, state=state, end_time=True,
                                      error=error, only_from=ACTIVE_STATES)
            self.say(f"tuning job ended: {state}")
            return True
        most = int(self.job.body["maxTrialCount"])
        parallel = int(self.job.body["parallelTrialCount"])
        while not self.exhausted and len(live) < parallel and len(trials) < most:
            if not self._propose(trials):
                self.exhausted = True
                self.say(f"the grid is exhausted after {len(trials)} trials")
            else:
                live.append(trials[-1])
        if live or (len(trials) < most and not self.exhausted):
            return False
        succeeded = sum(1 for t in trials if t["state"] == "SUCCEEDED")
        if succeeded:
            state, error = SUCCEEDED, None
        else:
            state, error = FAILED, {"code": STUDY_FAILED, "message": (
                f"None of the {len(trials)} trials reported the metric {self.metric!r}; "
                "each trial's infeasibleReason says why.")}
        self.tuner.tunings.update(self.job_id, trials=trials, state=state, end_time=True,
                                  error=error, only_from=ACTIVE_STATES)
        self.say(f"tuning job ended: {state} ({succeeded} of {len(trials)} trials "
                 "succeeded)")
        return True


def _now() -> str:
    return rfc3339(time.time()) or ""
