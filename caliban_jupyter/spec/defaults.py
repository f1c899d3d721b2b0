"""Where a job runs when nothing says otherwise: region, machine types, accelerator.

Pure constants, so that spec/ (which decides with them) need not import the settings
module (which reads the environment and config files).
"""

from __future__ import annotations

DEFAULT_REGION = "us-central1"
DEFAULT_GPU_MACHINE = "n1-standard-8"
DEFAULT_CPU_MACHINE = "n1-highcpu-32"
DEFAULT_GPU_SPEC = "1xP100"
