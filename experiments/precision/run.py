"""Does bfloat16 autocast keep a trial's score, and how much faster does it train? (issue 22, item 1)

`lora-r8` and two hybrids the default search picked on tweets at 0.5% (`candidates/`: a six-method
one of 113,320 parameters and a five-method one of 32,644), each trained at `standard` with seeds
100-102 in fp32 and in bf16, interleaved (fp32 then bf16 for each seed, so a busy machine slows
both alike), scored on dev and test; then in bf16 on eager attention (`bf16eager`, run later, by
itself: `--arms bf16eager`), whose scores are compared, not its times. Every step is an
`autopeft train` command a user could type; resumable (a finished step's result.json is kept):

    .venv/bin/python experiments/precision/run.py --machine cpu --threads 2
    .venv/bin/python experiments/precision/analyse.py cpu
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
CLI = str(Path(sys.executable).with_name("autopeft"))
CANDIDATES = {"lora-r8": "lora-r8", "hybrid-113k": str(HERE / "candidates" / "hybrid-113k.json"),
              "hybrid-33k": str(HERE / "candidates" / "hybrid-33k.json")}
SEEDS = (100, 101, 102)
# each arm's `autopeft train` options: bf16 as first measured (on SDPA attention, the default until eager
# became `--attention auto`'s choice under bf16 on a CPU), and bf16 on eager attention, today's default here
ARMS = {"fp32": ["--precision", "fp32"], "bf16": ["--precision", "bf16", "--attention", "sdpa"],
        "bf16eager": ["--precision", "bf16", "--attention", "eager"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--machine", default="cpu")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--fidelity", default="standard")
    ap.add_argument("--arms", nargs="*", default=list(ARMS), choices=list(ARMS))
    args = ap.parse_args()
    for seed in SEEDS:
        for name, cand in CANDIDATES.items():
            for arm in args.arms:
                out = HERE / args.machine / f"{name}-{arm}-s{seed}"
                if (out / "result.json").exists():
                    continue
                cmd = [CLI, "train", cand, "--task", "tweet_sentiment", "--model", "minilm", "--fidelity",
                       args.fidelity, "--seeds", str(seed), *ARMS[arm], "--report", "--out", str(out)]
                if args.threads:
                    cmd += ["--threads", str(args.threads)]
                start = time.perf_counter()
                rc = subprocess.run(cmd).returncode
                print(f"{name} {arm} seed {seed}: rc {rc}, {time.perf_counter() - start:.0f} s", flush=True)


if __name__ == "__main__":
    main()
