"""The fuzz tests: a small fixed sample in CI, thousands of cases with `KVIT_FUZZ=1`; see `fuzzing`."""

import fuzzing


def pytest_terminal_summary(terminalreporter):
    if fuzzing.CASES:
        total = sum(fuzzing.CASES.values())
        kind = "KVIT_FUZZ=1" if fuzzing.FUZZ else "the CI sample"
        terminalreporter.write_line(f"fuzz cases run: {total} ({kind})")
        for name, count in sorted(fuzzing.CASES.items()):
            terminalreporter.write_line(f"  {count:6d}  {name}")
