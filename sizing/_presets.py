"""Scenarios for common service shapes: starting points for the CLI's `example` and the app's presets."""

from __future__ import annotations

from sizing._scenario import Deployment, Endpoint, Scenario, Targets, Traffic

__all__ = ["PRESETS", "preset"]


def _crud() -> Scenario:
    return Scenario(
        traffic=Traffic(rps=300, peak_factor=2.0, arrival_cv2=1.0),
        endpoints=[
            Endpoint(
                name="read item",
                share=0.7,
                handler="sync",
                cpu_ms=1.5,
                db_hold_ms=6,
                db_hold_cv2=0.5,
                sync_dependencies=1,
                response_model=True,
            ),
            Endpoint(
                name="write item",
                share=0.3,
                handler="sync",
                cpu_ms=2.5,
                db_hold_ms=15,
                db_hold_cv2=1.0,
                sync_dependencies=1,
                response_model=True,
            ),
        ],
        deployment=Deployment(
            hosts=2,
            cores_per_host=2,
            workers_per_host=2,
            thread_tokens=40,
            db_pool_size=5,
            db_max_overflow=10,
            http_max_connections=100,
            db_max_connections=100,
        ),
        targets=Targets(latency_p99_ms=250, max_pool_wait_p99_ms=50),
    )


def _gateway() -> Scenario:
    return Scenario(
        traffic=Traffic(rps=800, peak_factor=1.5, arrival_cv2=1.5),
        endpoints=[
            Endpoint(
                name="proxy",
                share=0.9,
                handler="async",
                cpu_ms=0.8,
                upstream_calls=1,
                upstream_latency_ms=120,
                upstream_latency_p99_ms=600,
            ),
            Endpoint(
                name="fan-out",
                share=0.1,
                handler="async",
                cpu_ms=2.0,
                upstream_calls=3,
                upstream_latency_ms=80,
                upstream_latency_cv2=1.0,
            ),
        ],
        deployment=Deployment(
            hosts=1,
            cores_per_host=4,
            workers_per_host=4,
            thread_tokens=40,
            db_pool_size=0,
            db_max_overflow=0,
            http_max_connections=100,
        ),
        targets=Targets(latency_p99_ms=1000, max_pool_wait_p99_ms=20),
    )


def _mixed() -> Scenario:
    return Scenario(
        traffic=Traffic(rps=150, peak_factor=2.0, arrival_cv2=1.0),
        endpoints=[
            Endpoint(
                name="list orders",
                share=0.5,
                handler="sync",
                cpu_ms=2.0,
                db_hold_ms=12,
                db_hold_cv2=0.5,
                sync_dependencies=1,
                response_model=True,
            ),
            Endpoint(
                name="checkout",
                share=0.2,
                handler="sync",
                cpu_ms=3.0,
                db_hold_ms=25,
                upstream_calls=1,
                upstream_latency_ms=150,
                upstream_latency_cv2=1.0,
                sync_dependencies=2,
            ),
            Endpoint(
                name="search",
                share=0.3,
                handler="async",
                cpu_ms=1.5,
                upstream_calls=1,
                upstream_latency_ms=60,
                upstream_latency_cv2=0.5,
            ),
        ],
        deployment=Deployment(
            hosts=1,
            cores_per_host=2,
            workers_per_host=2,
            thread_tokens=40,
            db_pool_size=5,
            db_max_overflow=10,
            http_max_connections=100,
            db_max_connections=100,
        ),
        targets=Targets(latency_p99_ms=600, max_pool_wait_p99_ms=50),
    )


PRESETS = {
    "mixed service": _mixed,
    "sync SQLAlchemy CRUD": _crud,
    "async httpx gateway": _gateway,
}


def preset(name: str = "mixed service") -> Scenario:
    """A ready scenario by name (see `PRESETS`)."""
    try:
        return PRESETS[name]()
    except KeyError:
        raise ValueError(f"preset must be one of {sorted(PRESETS)}, got {name!r}") from None
