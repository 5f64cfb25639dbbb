"""Calibration: probe profiles (`sizing_probe`, format sizing-profile/1) become a scenario.

    calibrate(profiles, rps=None, peak_factor=1.0) -> Calibration (.scenario, .provenance, .warnings)
    read_profile(source) -> dict, PROFILE_FORMAT
"""

from __future__ import annotations

from sizing._base import publish
from sizing.calibration._calibrate import Calibration, calibrate
from sizing.calibration._profiles import PROFILE_FORMAT, read_profile

__all__ = ["PROFILE_FORMAT", "Calibration", "calibrate", "read_profile"]

publish(__name__, globals(), __all__)
