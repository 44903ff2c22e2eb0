"""The wave workflow's steps (prepare, may_start, record, follow, finish) and its start from a "Wave Requested"
event: see cutover/steps/wave.py."""

from cutover.observability import instrument
from cutover.steps.wave import wave

lambda_handler = instrument(wave)
