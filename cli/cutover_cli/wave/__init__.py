"""Waves: several cutovers from one file, a few at a time.

A wave file names its plans and how many may run at once::

    name: wave-3                 # [a-z0-9-]{1,48}
    concurrency: 3               # 1..100 cutovers running at once
    halt_on_failure: false       # true: once a cutover ends other than COMPLETED, start no more
    cutovers:                    # 1..200, in the order they start
      - plan: plans/orders.yaml            # relative to the wave file
        scenario: scenarios/orders.yaml    # only for rehearse-wave

- ``cutover wave WAVE`` starts each cutover as its own execution (its own request, its own record
  locks) through the operator's start, records it in the wave, and starts the next when one ends;
- ``cutover wave-status NAME`` summarises the cutovers recorded in a wave;
- ``cutover rehearse-wave WAVE`` runs the whole wave on one local engine, one rehearsal per
  cutover, each in the world its scenario describes.

A wave goes on when one of its cutovers rolls back (the cutovers are independent: each
rolls back only its own records) unless the file sets ``halt_on_failure``; then no cutover
starts after the first one that ends other than COMPLETED, and the running ones go on.

One module per job:

- :mod:`~cutover_cli.wave.model`: the wave file, its validation, rehearse-wave's checks of the scenarios;
- :mod:`~cutover_cli.wave.router`: the local engine's hooks shared by a wave's rehearsals;
- :mod:`~cutover_cli.wave.rehearse`: `cutover rehearse-wave`'s driver, on the rehearsals' virtual clock;
- :mod:`~cutover_cli.wave.drive`: `cutover wave`'s driver against a controller, and `cutover wave-status`;
- :mod:`~cutover_cli.wave.commands`: the commands' arguments and runs;
- :mod:`~cutover_cli.wave.render`: the summary table.

The names below are re-exported so ``from cutover_cli.wave import ...`` keeps working.
"""

from cutover_cli.wave.commands import (
    REHEARSE_WAVE_HELP,
    WAVE_HELP,
    WAVE_STATUS_HELP,
    add_wave_commands,
    run_wave_command,
)
from cutover_cli.wave.drive import (
    NO_EXECUTION_YET,
    START_GRACE_SECONDS,
    WaveDriver,
    run_wave,
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
    "WaveDriver",
    "WaveRouter",
    "add_wave_commands",
    "build_wave_world",
    "load_wave_file",
    "rehearsal_exit_status",
    "rehearse_wave",
    "run_wave",
    "run_wave_command",
    "validate_wave",
    "wave_exit_status",
    "wave_scenarios",
    "wave_status",
]
