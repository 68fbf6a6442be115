"""Print one closing line summing every tox environment's JUnit report."""

from __future__ import annotations

import glob
import sys
import xml.etree.ElementTree as ET


def main(pattern: str) -> int:
    passed = failed = skipped = 0
    for path in sorted(glob.glob(pattern)):
        root = ET.parse(path).getroot()
        suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
        for s in suites:
            tests = int(s.get("tests", 0))
            bad = int(s.get("failures", 0)) + int(s.get("errors", 0))
            skip = int(s.get("skipped", 0))
            passed += tests - bad - skip
            failed += bad
            skipped += skip
    print(f"qstack: {passed} passed, {failed} failed, {skipped} skipped")
    return 0 if failed == 0 and passed > 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else ".tox/junit-*.xml"))
