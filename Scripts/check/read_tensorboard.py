"""Reads a TensorBoard event directory with TensorBoard's own loader and prints its scalars as JSON:
{"tag": [[step, value], ...], ...}. Used by the tests to check the event files Recurrent writes."""

import json
import sys

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

accumulator = EventAccumulator(sys.argv[1], size_guidance={"scalars": 0})
accumulator.Reload()
print(json.dumps({tag: [[event.step, event.value] for event in accumulator.Scalars(tag)] for tag in accumulator.Tags()["scalars"]}))
