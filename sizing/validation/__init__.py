"""Validation against a real server: the model and the simulator checked on a uvicorn worker under load.

`validate` starts the emulating FastAPI app (`sizing.validation.server`) under uvicorn on 127.0.0.1,
calibrates once, drives each load point from a separate generator process
(`sizing.validation.loadgen`), and compares what it measured with what the model and the simulator
predict. Three processes, so the server's and the generator's CPU and garbage collection stay apart.
Needs the `validate` extra (fastapi, uvicorn, httpx).

Run and read
    validate, repredict, ValidationReport (JSON format FORMAT), PointReport, Measured, ClassLatency, Predicted,
    Calibration, WindowSpread, Verdict, VerdictStatus, EXIT_OK, EXIT_MISS, EXIT_ERROR
The real backend (backend="postgres")
    BACKENDS, DB_POOLS, BackendKind, DbPool, Backend, backend_for, check_backend, Database,
    private_database, user_database, find_bindir, PostgresUnavailableError, SEED_ROWS, SPEED_SETTINGS
Harness parts (public for unit tests of the plan, the measurement and the verdicts)
    Options, check_scenario, admission_limit, parse_points, resolve_points, nominal_capacities,
    burn_plan, LoadPoint, verdict, band_range, disturbance_reason, overloaded, PointRun, analyze,
    latency_ci, disturbance_score, disturbed, gc_in_window, MAX_LAG_P99_MS, MAX_OTHER_CPU, MAX_STEAL,
    CalibrationData, burns_at, framework_at, OwnedProcess, Server, start_server, group_alive, lean_boot,
    pinned_cpus
"""

from __future__ import annotations

from sizing._base import publish
from sizing.validation._backend import (
    BACKENDS,
    DB_POOLS,
    Backend,
    BackendKind,
    DbPool,
    backend_for,
    check_backend,
)
from sizing.validation._calibrate import CalibrationData, burns_at, framework_at
from sizing.validation._harness import Options, admission_limit, check_scenario, validate
from sizing.validation._measure import (
    MAX_LAG_P99_MS,
    PointRun,
    analyze,
    disturbance_score,
    disturbed,
    gc_in_window,
    latency_ci,
)
from sizing.validation._plan import LoadPoint, burn_plan, nominal_capacities, parse_points, resolve_points
from sizing.validation._postgres import (
    SEED_ROWS,
    SPEED_SETTINGS,
    Database,
    PostgresUnavailableError,
    find_bindir,
    private_database,
    user_database,
)
from sizing.validation._predict import repredict
from sizing.validation._processes import (
    OwnedProcess,
    Server,
    group_alive,
    lean_boot,
    pinned_cpus,
    start_server,
)
from sizing.validation._report import (
    EXIT_ERROR,
    EXIT_MISS,
    EXIT_OK,
    FORMAT,
    MAX_OTHER_CPU,
    MAX_STEAL,
    Calibration,
    ClassLatency,
    Measured,
    PointReport,
    Predicted,
    ValidationReport,
    Verdict,
    VerdictStatus,
    WindowSpread,
    band_range,
    disturbance_reason,
    overloaded,
    verdict,
)

__all__ = [
    "BACKENDS",
    "DB_POOLS",
    "EXIT_ERROR",
    "EXIT_MISS",
    "EXIT_OK",
    "FORMAT",
    "MAX_LAG_P99_MS",
    "MAX_OTHER_CPU",
    "MAX_STEAL",
    "SEED_ROWS",
    "SPEED_SETTINGS",
    "Backend",
    "BackendKind",
    "Calibration",
    "CalibrationData",
    "ClassLatency",
    "Database",
    "DbPool",
    "LoadPoint",
    "Measured",
    "Options",
    "OwnedProcess",
    "PointReport",
    "PointRun",
    "PostgresUnavailableError",
    "Predicted",
    "Server",
    "ValidationReport",
    "Verdict",
    "VerdictStatus",
    "WindowSpread",
    "admission_limit",
    "analyze",
    "backend_for",
    "band_range",
    "burn_plan",
    "burns_at",
    "check_backend",
    "check_scenario",
    "disturbance_reason",
    "disturbance_score",
    "disturbed",
    "find_bindir",
    "framework_at",
    "gc_in_window",
    "group_alive",
    "latency_ci",
    "lean_boot",
    "nominal_capacities",
    "overloaded",
    "parse_points",
    "pinned_cpus",
    "private_database",
    "repredict",
    "resolve_points",
    "start_server",
    "user_database",
    "validate",
    "verdict",
]

publish(__name__, globals(), __all__)
