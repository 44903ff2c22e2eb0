"""The local engine, in parts: the emulator (moto, its clients and the controller's resources), the
in-process Lambda dispatcher (the real handlers, injected faults, every AWS call observed), the world
builder (zones, weighted records, alarms, DMS datapoints) and the one module that adapts moto.
``cutover_cli.local_engine.LocalEngine`` puts them together."""
