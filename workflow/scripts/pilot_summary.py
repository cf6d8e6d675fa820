"""Adapter: rule pilot_summary -> augrepro.studies.pilot.write_summary; prints every shape (each failed one by name,
with why) and the plan priced on the measurements, to the terminal and the log."""

import sys
from pathlib import Path

root = Path(snakemake.scriptdir).resolve().parents[1]  # (snakemake is injected)
sys.path.insert(0, str(root / "src"))

from augrepro.runs import PilotKey
from augrepro.studies import format_plan, plan_rows, select_from_config
from augrepro.studies.pilot import format_summary, write_summary

keys = [PilotKey(**shape) for shape in snakemake.params.shapes]
rows = write_summary(zip(keys, snakemake.input), snakemake.output[0])
text = format_summary(rows)
plan = format_plan(plan_rows(select_from_config(snakemake.config, root, workdir=Path.cwd())))
with open(snakemake.log[0], "w") as log:
    print(f"{text}\n\n{plan}", file=log)
print(f"{text}\nThe plan on the pilot's measurements:\n{plan}", file=sys.stderr, flush=True)
