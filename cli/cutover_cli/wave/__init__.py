"""Waves: several cutovers from one file, a few at a time.

A wave file names its plans and how many may run at once::

    name: wave-3                 # [a-z0-9-]{1,48}
    concurrency: 3               # 1..100 cutovers running at once
    halt_on_failure: false       # true: once a cutover ends other than COMPLETED, start no more
    cutovers:                    # 1..200, in the order they start
      - plan: plans/orders.yaml            # relative to the wave file
        scenario: scenarios/orders.yaml    # only for rehearse-wave

- ``cutover wave WAVE`` sends the wave to the controller (the control function tickets it and each of its
  cutovers for you); the wave workflow (statemachine/wave.asl.json) runs each cutover as its own execution
  (its own record locks), at most ``concurrency`` at once, on Step Functions: nobody's terminal stays open;
- ``cutover wave-status ID [--watch]`` reads the wave's execution and its record;
- ``cutover abort-wave ID --reason TEXT [--cutovers]`` halts it (and aborts its running cutovers);
- ``cutover rehearse-wave WAVE`` runs the same wave workflow on the local engine, one rehearsal per
  cutover, each in the world its scenario describes.

A wave goes on when one of its cutovers rolls back (the cutovers are independent: each
rolls back only its own records) unless the file sets ``halt_on_failure``; then no cutover
starts after the first one that ends other than COMPLETED, and the running ones go on. The
workflow enforces both (layers/cutover/cutover/steps/wave.py).

One module per job:

- :mod:`~cutover_cli.wave.model`: the wave file, its validation, rehearse-wave's checks of the scenarios;
- :mod:`~cutover_cli.wave.router`: the local engine's hooks shared by a wave's rehearsals;
- :mod:`~cutover_cli.wave.rehearse`: `cutover rehearse-wave`'s driver, on the rehearsals' virtual clock;
- :mod:`~cutover_cli.wave.drive`: `cutover wave`, `wave-status` and `abort-wave` against a controller;
- :mod:`~cutover_cli.wave.commands`: the commands' arguments and runs;
- :mod:`~cutover_cli.wave.render`: the summary table.

The names below are re-exported so ``from cutover_cli.wave import ...`` keeps working.
"""

from cutover_cli.wave.commands import (
    ABORT_WAVE_HELP,
    REHEARSE_WAVE_HELP,
    WAVE_HELP,
    WAVE_STATUS_HELP,
    add_wave_commands,
    run_wave_command,
)
from cutover_cli.wave.drive import (
    NO_EXECUTION_YET,
    START_GRACE_SECONDS,
    abort_wave,
    submit_wave,
    watch_wave,
    wave_detail,
    wave_exit_status,
    wave_status,
)
from cutover_cli.wave.model import (
    EXIT_INVALID,
    EXIT_NOT_OK,
    EXIT_OK,
    MAX_CONCURRENCY,
    MAX_CUTOVERS,
    MAX_REQUEST_KEY,
    WAVE_NAME_PATTERN,
    Wave,
    WaveCutover,
    load_wave_file,
    validate_wave,
    wave_scenarios,
)
from cutover_cli.wave.rehearse import (
    REHEARSAL_POLL_SECONDS,
    REHEARSAL_TIMEOUT_SECONDS,
    Observer,
    rehearsal_exit_status,
    rehearse_wave,
)
from cutover_cli.wave.router import WaveRouter, build_wave_world

__all__ = [
    "ABORT_WAVE_HELP",
    "EXIT_INVALID",
    "EXIT_NOT_OK",
    "EXIT_OK",
    "MAX_CONCURRENCY",
    "MAX_CUTOVERS",
    "MAX_REQUEST_KEY",
    "NO_EXECUTION_YET",
    "REHEARSAL_POLL_SECONDS",
    "REHEARSAL_TIMEOUT_SECONDS",
    "REHEARSE_WAVE_HELP",
    "START_GRACE_SECONDS",
    "WAVE_HELP",
    "WAVE_NAME_PATTERN",
    "WAVE_STATUS_HELP",
    "Observer",
    "Wave",
    "WaveCutover",
    "WaveRouter",
    "abort_wave",
    "add_wave_commands",
    "build_wave_world",
    "load_wave_file",
    "rehearsal_exit_status",
    "rehearse_wave",
    "run_wave_command",
    "submit_wave",
    "validate_wave",
    "watch_wave",
    "wave_detail",
    "wave_exit_status",
    "wave_scenarios",
    "wave_status",
]
