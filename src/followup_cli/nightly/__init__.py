"""The nightly records (SPEC 8): run report, metrics, history snapshots, changes, health warnings
and the reject limits that decide whether a run is worth delivering."""
