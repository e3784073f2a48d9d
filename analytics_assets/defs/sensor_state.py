"""What `workflow_refresh_sensor` remembers between ticks, which workflows it checks, and how
it batches what is due into few runs. Plain Python: the sensor's Dagster wiring is elsewhere.

Per workflow the cursor keeps the fingerprint of its jobs, whether any job was running or
pending, and the ticks of its last check and last change. Active and recently changed
workflows are checked every tick; the rest in rotation, longest-unchecked first, so a change
anywhere is seen within ceil(quiet workflows / rotation checks per tick) ticks.
"""

from __future__ import annotations

import base64
import json
import zlib
from dataclasses import dataclass, field

CURSOR_PREFIX = "v3:"
# v2 fingerprinted four fields of each job, v3 each job's version: a v2 fingerprint is a baseline.
V2_PREFIX = "v2:"
# A workflow that changed in the last ticks is checked on every tick, like an active one.
RECENT_TICKS = 3
ACTIVE_STATUSES = frozenset({"running", "pending"})
# The fingerprint of a workflow whose load the sensor requested without checking it: the
# run records the one it saw, and the sensor takes it from that materialization.
UNKNOWN = ""
# The run's materialization recorded none (an older release): the next check is the baseline.
BASELINE = "?"
# Due partitions closer than this in the partition order share one run: loading an unchanged
# partition costs one jobs request, far less than a run's fixed cost of seconds.
MAX_BRIDGED_GAP = 10


@dataclass
class Entry:
    fingerprint: str = UNKNOWN
    active: bool = False
    checked: int = 0  # tick of the last check; 0: never checked
    changed: int = 0  # tick of the last change seen; 0: none since discovery


@dataclass
class SensorState:
    tick: int = 0
    workflows_digest: str | None = None
    workspace_tick: int = 0  # the tick that last requested the workspace assets
    entries: dict[str, Entry] = field(default_factory=dict)

    def encode(self) -> str:
        """Compact and compressed: the cursor lives in Dagster's storage, tick after tick."""
        body = {
            "tick": self.tick,
            "workflows": self.workflows_digest,
            "ws": self.workspace_tick,
            "wf": {
                uid: [e.fingerprint, int(e.active), e.checked, e.changed]
                for uid, e in self.entries.items()
            },
        }
        raw = json.dumps(body, separators=(",", ":")).encode()
        return CURSOR_PREFIX + base64.b64encode(zlib.compress(raw, 9)).decode()

    @classmethod
    def decode(cls, cursor: str | None) -> SensorState:
        if not cursor:
            return cls()
        if not cursor.startswith((CURSOR_PREFIX, V2_PREFIX)):
            # The first release's plain JSON: its workflows were loaded by its runs, whose
            # materializations record no fingerprint, so each one's next check is a baseline.
            old = json.loads(cursor)
            entries = {uid: Entry(BASELINE) for uid in old.get("jobs", {})}
            return cls(0, old.get("workflows"), 0, entries)
        body = json.loads(zlib.decompress(base64.b64decode(cursor[len(CURSOR_PREFIX) :])))
        older = cursor.startswith(V2_PREFIX)
        entries = {
            uid: Entry(BASELINE if older and fp != UNKNOWN else fp, bool(active), checked, changed)
            for uid, (fp, active, checked, changed) in body["wf"].items()
        }
        return cls(body["tick"], body.get("workflows"), body.get("ws", 0), entries)

    def is_hot(self, uid: str) -> bool:
        entry = self.entries[uid]
        return entry.active or self.tick - entry.changed < RECENT_TICKS

    def check_order(self, uids: list[str]) -> list[str]:
        """Active and recently changed workflows first, then the rest; each group
        longest-unchecked first."""
        known = [u for u in uids if self.entries[u].fingerprint != UNKNOWN]
        position = {u: i for i, u in enumerate(uids)}

        def oldest_first(group: list[str]) -> list[str]:
            return sorted(group, key=lambda u: (self.entries[u].checked, position[u]))

        hot = [u for u in known if self.is_hot(u)]
        return oldest_first(hot) + oldest_first([u for u in known if not self.is_hot(u)])

    def longest_unchecked(self) -> int:
        """Ticks since the least recently checked known workflow was checked (0: none)."""
        checked = [e.checked for e in self.entries.values() if e.fingerprint != UNKNOWN]
        return self.tick - min(checked) if checked else 0


def load_ranges(
    due: set[str],
    order: list[str],
    max_per_run: int,
    busy: set[str] | None = None,
    bridge: int = MAX_BRIDGED_GAP,
) -> list[tuple[str, str]]:
    """Runs for the due partitions, as (first, last) ranges of the partition order.

    Dagster runs a contiguous range of partitions in one run (never an arbitrary set), so
    neighbours are joined when the gap between them is small and holds no partition with a
    run in flight; no range holds more than `max_per_run` partitions.
    """
    position = {u: i for i, u in enumerate(order)}
    blocked = sorted(position[u] for u in busy or () if u in position)
    indexes = sorted(position[u] for u in due if u in position)
    ranges: list[tuple[int, int]] = []
    for index in indexes:
        if ranges:
            start, end = ranges[-1]
            clear = not any(end < b < index for b in blocked)
            if clear and index - end - 1 <= bridge and index - start + 1 <= max_per_run:
                ranges[-1] = (start, index)
                continue
        ranges.append((index, index))
    return [(order[start], order[end]) for start, end in ranges]
