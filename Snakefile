# augrepro: rerun the published experiments on saliency-guided mixing augmentations.
# This file only declares; the grid and every helper live in workflow/rules/common.smk.
from snakemake.utils import min_version

min_version("9.0")


configfile: "config/config.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/pretrained.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/aggregate.smk"
include: "workflow/rules/preview.smk"
include: "workflow/rules/report.smk"


# Downloads (datasets, pretrained weights) need the internet (compute nodes often have none); the others are seconds of work.
localrules:
    all,
    download,
    pretrained,
    aggregate,
    report,


rule all:
    input:
        get_final_output(),
    default_target: True
