"""Cold start to a painted window with the default model (the app's own --screenshot path), 3 runs.
Usage: ``python -m bench.cold_start``."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

from bench.machine import describe


def main() -> None:
    walls, painted = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(3):
            t0 = time.perf_counter()
            r = subprocess.run([sys.executable, "-m", "app", "--screenshot", os.path.join(tmp, f"{i}.png")],
                               capture_output=True, text=True, env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})
            if r.returncode != 0:
                raise SystemExit(r.stderr)
            walls.append(time.perf_counter() - t0)
            line = next(ln for ln in r.stderr.splitlines() if ln.startswith("cold start to painted window"))
            painted.append(float(line.split(":")[1].split()[0]))
    print(json.dumps({"machine": describe(),
                      "main_to_painted_s": painted, "main_to_painted_median_s": round(statistics.median(painted), 2),
                      "process_start_to_png_and_exit_s": [round(w, 2) for w in walls],
                      "process_median_s": round(statistics.median(walls), 2)}, indent=1))


if __name__ == "__main__":
    main()
