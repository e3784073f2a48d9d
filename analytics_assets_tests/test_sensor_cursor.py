"""The sensor's cursor across releases: a v2 cursor's fingerprints (four fields per job) are
baselines under v3 (job versions), so an upgrade requests no reload of every workflow."""

from analytics_assets.defs.sensor_state import BASELINE, UNKNOWN, Entry, SensorState


def test_a_v2_cursor_keeps_its_bookkeeping_and_turns_its_fingerprints_into_baselines():
    state = SensorState(tick=9, workflows_digest="d", workspace_tick=4)
    state.entries = {"a": Entry("f1", True, 8, 7), "b": Entry(UNKNOWN, False, 0, 0)}
    current = state.encode()
    assert current.startswith("v3:") and SensorState.decode(current) == state
    older = SensorState.decode("v2:" + current[len("v3:") :])
    assert (older.tick, older.workflows_digest) == (9, "d")
    assert older.entries == {"a": Entry(BASELINE, True, 8, 7), "b": Entry(UNKNOWN, False, 0, 0)}
